"""Text edge cases (issue 23 item 7): a byte order mark is no part of the first token in any
text reader, a dev file of blank lines is refused before step 1, and embed cuts a very
long line into the spaCy component's windows."""
import codecs
import inspect
from pathlib import Path

import h5py
import numpy
import pytest
from spacy.tokens import Doc

from spacy_elmo.embed_file import embed_file
from spacy_elmo.layers import ElmoSettings
from spacy_elmo.pretrain import Tokenizer, Vocab, count_tokens, pretrain
from spacy_elmo.pretrain.corpus import read_sentences
from spacy_elmo.pretrain.stream import BackwardLines, Corpus, ForwardLines, TokenStream

from .test_safety import tiny_config

LINES = ["the cat sat on the mat", "a dog ran in the park", "birds sing at dawn"]


@pytest.fixture
def plain_and_bom(tmp_path):
    text = "\n".join(LINES) + "\n"
    plain, bom = tmp_path / "plain.txt", tmp_path / "bom.txt"
    plain.write_text(text, encoding="utf8")
    bom.write_bytes(codecs.BOM_UTF8 + text.encode("utf8"))
    return plain, bom


def _datasets(path: Path):
    with h5py.File(path, "r") as handle:
        return {key: handle[key][()] for key in handle}


def test_embed_reads_no_bom_into_the_first_token(plain_and_bom, tmp_path, tiny_bilm):
    plain, bom = plain_and_bom
    embed_file(plain, tmp_path / "plain.hdf5", tiny_bilm, progress=False)
    embed_file(bom, tmp_path / "bom.hdf5", tiny_bilm, progress=False)
    expected, found = _datasets(tmp_path / "plain.hdf5"), _datasets(tmp_path / "bom.hdf5")
    assert found.keys() == expected.keys()
    for key in ("0", "1", "2"):
        numpy.testing.assert_array_equal(found[key], expected[key])
    assert found["sentence_to_index"][0] == expected["sentence_to_index"][0]  # no \ufeff key


@pytest.mark.parametrize("kind", ["whitespace", "spacy"])
def test_corpus_readers_read_no_bom_into_the_first_token(plain_and_bom, kind):
    plain, bom = plain_and_bom
    tokenizer = Tokenizer("en", kind)
    assert list(read_sentences([bom], tokenizer)) == list(read_sentences([plain], tokenizer))
    assert count_tokens([bom], tokenizer)[0] == count_tokens([plain], tokenizer)[0]


def test_training_streams_read_no_bom_in_either_direction(plain_and_bom):
    plain, bom = plain_and_bom
    tokenizer = Tokenizer("en", "whitespace")

    def tokens(path, reader, reverse, start):
        corpus = Corpus.from_paths([path])
        position = (0, 0) if start == 0 else (0, corpus.sizes[0])
        return TokenStream(reader(corpus, position), tokenizer, reverse).window(25)

    assert tokens(bom, ForwardLines, False, 0) == tokens(plain, ForwardLines, False, 0)
    assert tokens(bom, BackwardLines, True, -1) == tokens(plain, BackwardLines, True, -1)


def test_vocab_file_with_a_bom_reads_its_first_special(tmp_path):
    vocab = Vocab(["the", "cat"])
    vocab.to_disk(tmp_path / "vocab.txt")
    path = tmp_path / "bom.txt"
    path.write_bytes(codecs.BOM_UTF8 + (tmp_path / "vocab.txt").read_bytes())
    assert Vocab.from_disk(path).words == vocab.words


def test_dev_file_of_blank_lines_fails_before_step_one(plain_and_bom, tmp_path):
    plain, _ = plain_and_bom
    dev = tmp_path / "dev.txt"
    dev.write_text("\n  \n\t\n\n", encoding="utf8")
    output = tmp_path / "run"
    with pytest.raises(ValueError, match=r"\[E351\].*dev.txt holds only blank lines"):
        pretrain(tiny_config(plain, paths__dev=str(dev), training__eval_every=1), output,
                 silent=True)
    assert not output.exists() or not any(output.iterdir())


# -- embed: long lines in the component's windows ----------------------------------------
def test_embed_cuts_a_long_line_as_the_component_does(make_nlp, tiny_bilm, tmp_path):
    words = [f"w{i % 17}" for i in range(45)]
    text = tmp_path / "long.txt"
    text.write_text(" ".join(words) + "\nshort line\n", encoding="utf8")
    embed_file(text, tmp_path / "out.hdf5", tiny_bilm, progress=False, max_length=12,
               window_overlap=4)
    found = _datasets(tmp_path / "out.hdf5")["0"]
    nlp = make_nlp(model={"max_length": 12, "window_overlap": 4})
    doc = nlp(Doc(nlp.vocab, words=words))
    expected = numpy.asarray(doc._.elmo.layers)
    assert found.shape == expected.shape == (3, 45, 16)
    numpy.testing.assert_allclose(found, expected, atol=1e-5, rtol=0)
    unwindowed = tiny_bilm.embed([words])[0]
    assert abs(unwindowed - found).max() > 1e-3  # the cut is real: the context differs


def test_embed_windows_are_the_components_by_default():
    defaults = inspect.signature(embed_file).parameters
    settings = ElmoSettings()
    assert defaults["max_length"].default == settings.max_length == 512
    assert defaults["window_overlap"].default == settings.window_overlap == 64
