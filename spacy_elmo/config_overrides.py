"""Config overrides on the command line, as ``spacy train`` reads them.

spaCy's own helpers live in the private ``spacy.cli._util``: ``parse_overrides`` and
``config_errors`` are the only places that use them, and carry a plain implementation
of the same behaviour for a spaCy that no longer has them there.
"""
import os
import shlex
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List

import srsly
from confection import ConfigValidationError
from wasabi import msg

from .errors import Errors

ENV_VAR = "SPACY_CONFIG_OVERRIDES"  # read by spaCy's commands too


def parse_overrides(args: List[str]) -> Dict[str, Any]:
    """{"section.key": value} from ``--section.key value`` / ``--section.key=value``
    arguments (a value is JSON if it parses, else a string; no value: true), then the
    same from the SPACY_CONFIG_OVERRIDES environment variable, which wins."""
    try:
        from spacy.cli._util import parse_config_overrides
    except ImportError:
        env = _parse(shlex.split(os.environ.get(ENV_VAR, "")))
        return {**_parse(list(args)), **env}
    return parse_config_overrides(list(args))


def _parse(args: List[str]) -> Dict[str, Any]:
    result: Dict[str, Any] = {}
    while args:
        arg = args.pop(0)
        name = arg[2:]
        if not arg.startswith("--") or "." not in name.split("=", 1)[0]:
            msg.fail(Errors.E724.format(arg=arg), exits=1)
        if "=" in name:
            name, value = name.split("=", 1)
            name = name.replace("-", "_")
        else:
            value = args.pop(0) if args and not args[0].startswith("--") else "true"
        try:
            result[name] = srsly.json_loads(value)
        except ValueError:
            result[name] = str(value)
    return result


@contextmanager
def config_errors(path: Path) -> Iterator[None]:
    """Show a config validation error as spaCy's commands do, and exit with status 1."""
    try:
        from spacy.cli._util import show_validation_error
    except ImportError:
        show_validation_error = None
    if show_validation_error is not None:
        with show_validation_error(path):
            yield
        return
    try:
        yield
    except ConfigValidationError as err:
        msg.fail(Errors.E725.format(path=path))
        print(err.text.strip())
        raise SystemExit(1) from None
