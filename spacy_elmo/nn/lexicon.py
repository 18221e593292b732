"""Token strings -> the id rows a token encoder reads: one path per kind of encoder.

A token is a string or one of the sentence-boundary keys ``BOS_KEY`` / ``EOS_KEY``
(tuples, so that no token string can collide with them). Every encoder reserves id 0
for "no token here" (the padding of a batch), so real rows never hold a 0.

* ``ByteLexicon`` ("elmo"): the original's UTF-8 byte ids, made in ``spacy_elmo.nn.chars``.
* ``EfmlLexicon`` ("efml"): ELMoForManyLangs' char.dic / word.dic vocabularies, kept as
  UTF-8 buffers in the state dict, so a saved model needs no other file.
"""
from typing import Dict, List, Optional, Protocol, Sequence, Tuple, Union

import numpy
import torch
from torch import nn

from .chars import boundary_char_ids, word_to_char_ids
from ..errors import Errors

BOS_KEY = ("<S>",)
EOS_KEY = ("</S>",)
Key = Union[str, Tuple[str]]
# ELMoForManyLangs' special entries (char.dic holds all six, word.dic the last three).
OOV, PAD, BOW, EOW, BOS, EOS = "<oov>", "<pad>", "<bow>", "<eow>", "<bos>", "<eos>"
CHAR_SPECIALS = (OOV, PAD, BOW, EOW, BOS, EOS)
WORD_SPECIALS = (OOV, BOS, EOS)
# Entries are joined with a line break: read line by line, no entry can hold one.
SEPARATOR = "\n"


class Lexicon(Protocol):
    """What a token encoder reads its ids through (both kinds below)."""

    def ids(self, words: Sequence[Key]) -> numpy.ndarray:
        """(len(words), K) int64 ids, all >= 1."""


class ByteLexicon:
    """The original encoder's ids: (n, max_chars) shifted UTF-8 byte ids (``chars``)."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars

    def ids(self, words: Sequence[Key]) -> numpy.ndarray:
        bounds = dict(zip((BOS_KEY, EOS_KEY), boundary_char_ids(self.max_chars)))
        rows = [bounds[w] if isinstance(w, tuple) else word_to_char_ids(w, self.max_chars)
                for w in words]
        return numpy.stack(rows) if rows else numpy.zeros((0, self.max_chars), dtype=numpy.int64)


class EfmlLexicon(nn.Module):
    """ELMoForManyLangs' char and word vocabularies and its token ids.

    ``ids(words)``: (n, [1 +] max_chars) int64, every id shifted by +1 (0 is the batch
    padding; the embeddings get a matching zero row 0). With words (word_dim > 0),
    column 0 is the word id: word.dic[token], else <oov>. The char row, filled with
    <pad>: a begin marker, char.dic[c] (else <oov>) per character, an end marker. As in
    the original, the begin marker is char.dic's "<eow>" and the end marker its "<bow>"
    (the names are swapped in its code; the weights were trained so). A token longer
    than max_chars - 2 characters is cut to that length for both lookups. The boundaries,
    and tokens spelled "<bos>" / "<eos>" (the original wraps sentences in these strings,
    so it cannot tell them apart), are [marker, char.dic[<bos>/<eos>], marker].
    """

    def __init__(self, n_characters: int, n_words: int, max_chars: int) -> None:
        super().__init__()
        self.n_characters, self.n_words, self.max_chars = n_characters, n_words, max_chars
        self.register_buffer("chars_utf8", torch.zeros(0, dtype=torch.uint8))
        self.register_buffer("words_utf8", torch.zeros(0, dtype=torch.uint8))
        # decoded from the buffers on first use; dropped when they are set or loaded
        self._tables: Optional[Tuple[Dict[str, int], Dict[str, int]]] = None

    def set_entries(self, chars: Sequence[str], words: Sequence[str]) -> None:
        """Store the vocabularies: ``chars[i]`` is char id i, ``words[i]`` word id i."""
        for entries, expected, specials in (
            (chars, self.n_characters, CHAR_SPECIALS), (words, self.n_words, WORD_SPECIALS)
        ):
            _check_entries(entries, expected, specials if expected else ())
        self.chars_utf8 = _to_buffer(chars, self.chars_utf8.device)
        self.words_utf8 = _to_buffer(words, self.words_utf8.device)
        self._tables = None

    def entries(self) -> Tuple[List[str], List[str]]:
        """The char and word vocabularies: ``chars[i]`` is char id i (unshifted)."""
        return (_from_buffer(self.chars_utf8, self.n_characters),
                _from_buffer(self.words_utf8, self.n_words))

    def ids(self, words: Sequence[Key]) -> numpy.ndarray:
        width = self.max_chars + (1 if self.n_words else 0)
        if not words:  # the width alone: no vocabulary needed (a run's before it loads one)
            return numpy.zeros((0, width), dtype=numpy.int64)
        chars, vocab = self._lookup_tables()
        # every id below is already shifted by +1 (see _lookup_tables)
        out = numpy.full((len(words), width), chars[PAD], dtype=numpy.int64)
        row_chars = out[:, width - self.max_chars :]
        # the original's swapped markers: begin with "<eow>", end with "<bow>"
        begin, end, oov = chars[EOW], chars[BOW], chars[OOV]
        for row, word in enumerate(words):
            if isinstance(word, tuple):
                word = BOS if word == BOS_KEY else EOS
            word = word[: self.max_chars - 2]
            if word in (BOS, EOS):
                payload = [chars[word]]
            else:
                payload = [chars.get(c, oov) for c in word]
            row_chars[row, 0] = begin
            row_chars[row, 1 : 1 + len(payload)] = payload
            row_chars[row, 1 + len(payload)] = end
            if self.n_words:
                out[row, 0] = vocab.get(word, vocab[OOV])
        return out

    def _lookup_tables(self) -> Tuple[Dict[str, int], Dict[str, int]]:
        """{entry: id + 1} for chars and words, decoded once per buffer contents."""
        if self._tables is None:
            chars, words = self.entries()
            self._tables = (
                {entry: i + 1 for i, entry in enumerate(chars)},
                {entry: i + 1 for i, entry in enumerate(words)},
            )
        return self._tables

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # The buffers' byte lengths depend on the vocabularies, not on the options the
        # module is built from: take the stored lengths before the strict copy.
        for name in ("chars_utf8", "words_utf8"):
            stored = state_dict.get(prefix + name)
            if stored is not None:
                current = getattr(self, name)
                setattr(self, name, current.new_zeros(stored.shape))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._tables = None


def _check_entries(entries: Sequence[str], expected: int, specials: Sequence[str]) -> None:
    if len(entries) != expected or len(set(entries)) != len(entries):
        raise ValueError(Errors.E605.format(found=len(entries), distinct=len(set(entries)),
                                            expected=expected))
    missing = [s for s in specials if s not in set(entries)]
    if missing or any(SEPARATOR in e for e in entries):
        raise ValueError(Errors.E606.format(missing=missing))


def _to_buffer(entries: Sequence[str], device: torch.device) -> torch.Tensor:
    data = SEPARATOR.join(entries).encode("utf-8", errors="surrogatepass")
    return torch.frombuffer(bytearray(data), dtype=torch.uint8).to(device) if data else \
        torch.zeros(0, dtype=torch.uint8, device=device)


def _from_buffer(buffer: torch.Tensor, expected: int) -> List[str]:
    if expected == 0:
        return []
    if buffer.numel() == 0:
        raise ValueError(Errors.E607)
    entries = bytes(buffer.cpu().numpy()).decode("utf-8", errors="surrogatepass").split(SEPARATOR)
    if len(entries) != expected:
        raise ValueError(Errors.E605.format(found=len(entries), distinct=len(set(entries)),
                                            expected=expected))
    return entries
