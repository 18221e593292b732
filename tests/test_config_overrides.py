"""Command-line config overrides: spaCy's private helpers behind one function each, and
the fallback used where spaCy no longer has them (issue 21 item 4)."""
import sys

import pytest
from confection import Config

from spacy_elmo.config_overrides import config_errors, parse_overrides

ARGS = ["--training.max_steps", "10", "--paths.train=corpus.txt", "--training.use_amp",
        "--training.layers", "[1, 2]", "--nlp.batch-size=3"]


@pytest.fixture
def without_spacy_helpers(monkeypatch):
    monkeypatch.setitem(sys.modules, "spacy.cli._util", None)  # import raises ImportError


def test_overrides_parse_as_spacy_does(monkeypatch):
    monkeypatch.delenv("SPACY_CONFIG_OVERRIDES", raising=False)
    expected = {"training.max_steps": 10, "paths.train": "corpus.txt", "training.use_amp": True,
                "training.layers": [1, 2], "nlp.batch_size": 3}
    assert parse_overrides(ARGS) == expected


def test_the_fallback_parses_the_same(monkeypatch, without_spacy_helpers):
    monkeypatch.setenv("SPACY_CONFIG_OVERRIDES", "--training.max_steps 20")
    assert parse_overrides(ARGS) == {
        "training.max_steps": 20, "paths.train": "corpus.txt", "training.use_amp": True,
        "training.layers": [1, 2], "nlp.batch_size": 3,
    }
    with pytest.raises(SystemExit):
        parse_overrides(["--toplevel", "1"])


@pytest.mark.parametrize("fallback", [False, True])
def test_a_validation_error_is_one_failure_and_exit_1(request, capsys, fallback, tmp_path):
    if fallback:
        request.getfixturevalue("without_spacy_helpers")
    from confection import ConfigValidationError

    with pytest.raises(SystemExit) as exit_info:
        with config_errors(tmp_path / "x.cfg"):
            raise ConfigValidationError(config=Config({"a": {"b": 1}}),
                                        errors=[{"loc": ["a", "b"], "msg": "field required"}])
    assert exit_info.value.code == 1
    out = capsys.readouterr().out
    assert "a -> b" in out and "field required" in out
    assert ("[E725]" in out) == fallback
