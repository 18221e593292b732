#!/usr/bin/env bash
# Not part of CI: install the LOWEST versions setup.py allows into a fresh venv and run the tests.
# pip has no "lowest" resolution, so every `>=` lower bound of install_requires becomes a
# `==` pin in a constraints file (torch excepted: it is installed first, as the README says).
# Usage: .ci/lowest_deps.sh [VENV_DIR] [pytest args...]   (default venv: /tmp/spacy-elmo-lowest)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-/tmp/spacy-elmo-lowest}"
shift || true
rm -rf "$VENV"
python3 -m venv "$VENV"
PY="$VENV/bin/python"
"$PY" -m pip install -q --upgrade pip
CONSTRAINTS="$VENV/lowest-constraints.txt"
"$PY" - "$CONSTRAINTS" <<'PYEOF'
import sys
from unittest import mock

import setuptools

captured = {}
with mock.patch.object(setuptools, "setup", lambda **kwargs: captured.update(kwargs)):
    exec(compile(open("setup.py").read(), "setup.py", "exec"), {"__file__": "setup.py", "__name__": "__main__"})
pins = []
for requirement in captured["install_requires"]:
    name, _, rest = requirement.partition(">=")
    if rest and name.strip() != "torch":
        pins.append(f"{name.strip()}=={rest.split(',')[0].strip()}")
open(sys.argv[1], "w").write("\n".join(pins) + "\n")
PYEOF
echo "== pins (from setup.py's lower bounds):"; cat "$CONSTRAINTS"
"$PY" -m pip install -q torch==2.13.0
"$PY" -m pip install -q -c "$CONSTRAINTS" -e ".[test]"
echo "== installed:"; "$PY" -m pip list 2>/dev/null | grep -i -E "^(spacy|thinc|torch|h5py|srsly|numpy|typer|click|tqdm|confection|wasabi|weasel) "
"$PY" -m pytest tests -q "$@"
