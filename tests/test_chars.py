import pytest

from spacy_elmo.nn.chars import (
    boundary_char_ids, sentences_to_char_ids, vocabulary_char_ids, word_to_char_ids,
)


def test_word_ids_follow_the_original_layout():
    ids = word_to_char_ids("hé")
    # begin-of-word 258, the UTF-8 bytes of "hé" (h, 0xC3, 0xA9), end-of-word 259, pad 260; all +1
    expected = [259, ord("h") + 1, 0xC3 + 1, 0xA9 + 1, 260] + [261] * 45
    assert ids.tolist() == expected


def test_boundary_tokens():
    bos, eos = boundary_char_ids()
    assert bos[:4].tolist() == [259, 257, 260, 261]
    assert eos[:4].tolist() == [259, 258, 260, 261]


def test_long_tokens_are_cut_to_48_bytes():
    long_word = "x" * 80
    ids = word_to_char_ids(long_word)
    assert len(ids) == 50
    assert (ids[1:49] == ord("x") + 1).all()
    assert ids[49] == 260  # end-of-word survives as the last id
    assert (word_to_char_ids("x" * 48) == ids).all()


def test_multibyte_tokens_are_cut_by_bytes():
    ids = word_to_char_ids("😀" * 20)  # 80 bytes
    assert [i - 1 for i in ids[1:49]] == list(("😀" * 20).encode("utf8")[:48])


def test_empty_token_has_only_word_markers():
    assert word_to_char_ids("")[:3].tolist() == [259, 260, 261]


@pytest.mark.parametrize("word", ["\u0301", "中文", "a\u0000b", "\ud800"])
def test_any_unicode_encodes(word):
    ids = word_to_char_ids(word)
    assert ids.shape == (50,) and ids.min() >= 1 and ids.max() <= 261


def test_batch_is_padded_with_zeros():
    batch = sentences_to_char_ids([["a", "b", "c"], ["d"]])
    assert batch.shape == (2, 5, 50)
    assert (batch[1, 3:] == 0).all()
    assert (batch[1, 0] == boundary_char_ids()[0]).all()
    assert (batch[1, 2] == boundary_char_ids()[1]).all()
    assert (batch[0, 2] == word_to_char_ids("b")).all()


def test_vocabulary_ids_treat_boundaries_specially():
    ids = vocabulary_char_ids(["<S>", "dog", "</S>"])
    assert (ids[0] == boundary_char_ids()[0]).all()
    assert (ids[1] == word_to_char_ids("dog")).all()
    assert (ids[2] == boundary_char_ids()[1]).all()
