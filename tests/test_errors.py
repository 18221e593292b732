"""Messages carry their code, as spaCy's do; warnings are W codes, errors E codes."""
import pytest

from spacy_elmo.errors import Errors, Warnings
from spacy_elmo.pretrain.init_model import READERS, read_init_model
from spacy_elmo.nn.options import published_options


def _codes(cls):
    return [name for name in vars(cls) if not name.startswith("_")]


@pytest.mark.parametrize("cls,letter", [(Errors, "E"), (Warnings, "W")])
def test_every_message_reads_with_its_code_in_front(cls, letter):
    codes = _codes(cls)
    assert codes and all(code[0] == letter and code[1:].isdigit() for code in codes)
    for code in codes:
        assert getattr(cls, code).startswith(f"[{code}] ")


def test_a_code_is_either_an_error_or_a_warning():
    assert not {c[1:] for c in _codes(Errors)} & {c[1:] for c in _codes(Warnings)}


def test_formatted_message_keeps_the_code():
    assert Errors.E001.format(path="x.json") == "[E001] Options file x.json not found."


def test_component_without_weights_warns_with_w111():
    from spacy.lang.en import English

    nlp = English()
    nlp.add_pipe("elmo", config={"model": {"projection_dim": 4, "lstm_dim": 8, "n_layers": 1,
                                           "char_dim": 4, "filters": [[1, 4]], "n_highway": 1}})
    with pytest.warns(UserWarning, match=r"^\[W111\] Component 'elmo': no weights given"):
        nlp.initialize()
    with pytest.raises(ValueError, match=r"^\[E120\] "):
        nlp("two words")


def test_a_bug_in_a_reader_is_not_reported_as_a_bad_model(tmp_path, monkeypatch):
    """Only the errors that mean "not a usable model" (ValueError, OSError) become E650."""
    def broken(path):
        raise TypeError("a bug, not a bad file")

    monkeypatch.setattr("spacy_elmo.pretrain.init_model.READERS", (broken,) + READERS)
    with pytest.raises(TypeError, match="a bug, not a bad file"):
        read_init_model(str(tmp_path), published_options("small"))


def test_an_unknown_published_architecture_is_coded():
    with pytest.raises(ValueError, match=r"^\[E040\] Unknown architecture 'huge': use one of small, medium, original"):
        published_options("huge")


def test_no_message_is_raised_without_a_code():
    """Every error raised in the package's code names an Errors code (issue 21): no bare
    messages. (AttributeError of the package's PEP 562 ``__getattr__`` is Python's own
    protocol, not a message to a user.)"""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "spacy_elmo"
    bare = re.compile(r"raise (?!AttributeError)\w*(Error|Exception)\(\s*f?[\"']")
    found = [f"{path.name}:{n}" for path in root.rglob("*.py")
             for n, line in enumerate(path.read_text(encoding="utf8").splitlines(), 1)
             if bare.search(line)]
    assert found == []
