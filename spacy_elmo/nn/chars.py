"""Character ids as the original ELMo (bilm-tf ``UnicodeCharsVocabulary``) makes them.

Each token becomes ``max_characters_per_token`` ids (50 in every published model):
begin-of-word 258, the token's UTF-8 **bytes** (at most ``max_chars - 2``; longer tokens
are cut, possibly in the middle of a multi-byte character, exactly as the original
does), end-of-word 259, then padding 260. The sentence boundary tokens ``<S>`` and
``</S>`` are the single pseudo-bytes 256 and 257 between the word markers.

WARNING: every id is finally shifted by +1 so that id 0 can mean "no token here"
(padded positions of a batch are all zeros). This is why prediction-time models have
``n_characters == 262`` while the original trainer writes 261: the embedding matrix
gets one extra row, for the padding id 0. The shift happens here and nowhere else.

An empty-string token has no bytes: it is ``[258, 259, 260, ...]`` (+1), the same as
the original. Any Unicode string is accepted: it is encoded as UTF-8 bytes.
"""
from typing import List, Sequence

import numpy

BOS_CHAR = 256  # <begin sentence>
EOS_CHAR = 257  # <end sentence>
BOW_CHAR = 258  # <begin word>
EOW_CHAR = 259  # <end word>
PAD_CHAR = 260  # <padding>
SHIFT = 1  # every id is shifted so that 0 is the batch padding

BOS_TOKEN = "<S>"
EOS_TOKEN = "</S>"


def _encode(payload: Sequence[int], max_chars: int) -> numpy.ndarray:
    ids = numpy.full((max_chars,), PAD_CHAR, dtype=numpy.int64)
    payload = list(payload)[: max_chars - 2]
    ids[0] = BOW_CHAR
    ids[1 : 1 + len(payload)] = payload
    ids[1 + len(payload)] = EOW_CHAR
    return ids + SHIFT


def word_to_char_ids(word: str, max_chars: int = 50) -> numpy.ndarray:
    """Return the (max_chars,) shifted char ids of one token (not a boundary token)."""
    return _encode(word.encode("utf-8", errors="surrogatepass"), max_chars)


def boundary_char_ids(max_chars: int = 50) -> numpy.ndarray:
    """Return the (2, max_chars) shifted char ids of ``<S>`` and ``</S>``."""
    return numpy.stack([_encode([BOS_CHAR], max_chars), _encode([EOS_CHAR], max_chars)])


def sentences_to_char_ids(
    sentences: Sequence[Sequence[str]], max_chars: int = 50, add_boundaries: bool = True
) -> numpy.ndarray:
    """Encode a batch of token lists as (batch, max_len (+2), max_chars) int64 ids.

    With ``add_boundaries`` each sentence is wrapped in ``<S>`` ... ``</S>``. Rows of
    shorter sentences are padded with all-zero ids.
    """
    extra = 2 if add_boundaries else 0
    width = max((len(s) for s in sentences), default=0) + extra
    out = numpy.zeros((len(sentences), width, max_chars), dtype=numpy.int64)
    bos, eos = boundary_char_ids(max_chars)
    for row, sentence in enumerate(sentences):
        offset = 1 if add_boundaries else 0
        for col, word in enumerate(sentence):
            out[row, col + offset] = word_to_char_ids(word, max_chars)
        if add_boundaries:
            out[row, 0] = bos
            out[row, len(sentence) + 1] = eos
    return out


def vocabulary_char_ids(words: List[str], max_chars: int = 50) -> numpy.ndarray:
    """Encode a list of words (``<S>``/``</S>`` included as boundaries) as (n, max_chars)."""
    bos, eos = boundary_char_ids(max_chars)
    special = {BOS_TOKEN: bos, EOS_TOKEN: eos}
    rows = [special[w] if w in special else word_to_char_ids(w, max_chars) for w in words]
    return numpy.stack(rows) if rows else numpy.zeros((0, max_chars), dtype=numpy.int64)
