"""Token strings -> tensors: char ids of the distinct tokens, where each goes, targets.

The char-CNN runs once per distinct token of a batch (``char_ids`` (U, max_chars)),
and ``index`` places the results; a batch of 128 x 20 tokens in both directions has
far fewer than 5120 distinct tokens.
"""
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import numpy
import torch

from ..chars import BOS_TOKEN, EOS_TOKEN, boundary_char_ids, word_to_char_ids
from .vocab import Vocab

IGNORE = -100  # target of a position that predicts nothing


class CharIds:
    """Shifted char ids per token string, memoized (bounded)."""

    def __init__(self, max_chars: int = 50, max_size: int = 500_000) -> None:
        self.max_chars, self.max_size = max_chars, max_size
        bos, eos = boundary_char_ids(max_chars)
        self._specials = {BOS_TOKEN: bos, EOS_TOKEN: eos}
        self._cache: Dict[str, numpy.ndarray] = {}

    def __call__(self, token: str) -> numpy.ndarray:
        ids = self._cache.get(token)
        if ids is None:
            if len(self._cache) >= self.max_size:
                self._cache.clear()
            ids = self._specials.get(token)
            if ids is None:
                ids = word_to_char_ids(token, self.max_chars)
            self._cache[token] = ids
        return ids


def distinct(
    tokens: Sequence[str], chars: CharIds, first: Sequence[str] = ()
) -> Tuple[torch.Tensor, numpy.ndarray]:
    """Char ids (U, max_chars) of the distinct tokens, and each token's row (len(tokens),)."""
    rows: Dict[str, int] = {}
    for token in list(first) + list(tokens):
        rows.setdefault(token, len(rows))
    index = numpy.fromiter((rows[t] for t in tokens), dtype=numpy.int64, count=len(tokens))
    if not rows:
        return torch.zeros((0, chars.max_chars), dtype=torch.int64), index
    table = numpy.stack([chars(t) for t in rows])
    return torch.from_numpy(table), index


@dataclass
class WindowBatch:
    """One window of both streams. char_ids (U, max_chars); index, targets: (2, T, B),
    time-major, [0] forward stream and [1] backward stream."""

    char_ids: torch.Tensor
    index: torch.Tensor
    targets: torch.Tensor

    @property
    def n_targets(self) -> int:
        return int(self.targets[0].numel())

    def to(self, device) -> "WindowBatch":
        return WindowBatch(*(t.to(device) for t in (self.char_ids, self.index, self.targets)))


def encode_windows(forward: List[List[str]], backward: List[List[str]], vocab: Vocab,
                   chars: CharIds) -> WindowBatch:
    """Windows of T + 1 tokens per row: inputs are tokens [0, T), targets tokens [1, T]."""
    steps = len(forward[0]) - 1
    inputs = [row[:steps] for stream in (forward, backward) for row in stream]
    flat = [t for row in inputs for t in row]
    char_ids, index = distinct(flat, chars)
    # (2, B, T) -> (2, T, B)
    index = index.reshape(2, len(forward), steps).transpose(0, 2, 1)
    targets = numpy.stack([vocab.ids([t for row in stream for t in row[1:]]).reshape(-1, steps)
                           for stream in (forward, backward)]).transpose(0, 2, 1)
    return WindowBatch(char_ids, torch.from_numpy(numpy.ascontiguousarray(index)),
                       torch.from_numpy(numpy.ascontiguousarray(targets)))


@dataclass
class SentenceBatch:
    """Sentences wrapped in <S> ... </S>, one per row. char_ids (U, max_chars) with row 0
    the all-zero padding; index (B, T); lengths (B,); targets (2, B, T) with ``IGNORE``
    where nothing is predicted ([0]: next token, [1]: previous token)."""

    char_ids: torch.Tensor
    index: torch.Tensor
    lengths: torch.Tensor
    targets: torch.Tensor

    @property
    def n_targets(self) -> int:
        return int((self.targets[0] != IGNORE).sum())

    def to(self, device) -> "SentenceBatch":
        return SentenceBatch(self.char_ids.to(device), self.index.to(device), self.lengths,
                             self.targets.to(device))


def encode_sentences(sentences: List[List[str]], vocab: Vocab, chars: CharIds) -> SentenceBatch:
    """Each sentence predicts its n words and </S> forwards, its n words and <S> backwards."""
    rows = [[BOS_TOKEN] + list(s) + [EOS_TOKEN] for s in sentences]
    width = max(len(r) for r in rows)
    padded = [r + [""] * (width - len(r)) for r in rows]
    # "" is never a real token here: its row is replaced by padding ids below
    char_ids, index = distinct([t for r in padded for t in r], chars, first=[""])
    char_ids[0] = 0
    targets = numpy.full((2, len(rows), width), IGNORE, dtype=numpy.int64)
    for b, row in enumerate(rows):
        ids = vocab.ids(row)
        targets[0, b, : len(row) - 1] = ids[1:]
        targets[1, b, 1 : len(row)] = ids[:-1]
    return SentenceBatch(
        char_ids, torch.from_numpy(index.reshape(len(rows), width)),
        torch.tensor([len(r) for r in rows], dtype=torch.int64), torch.from_numpy(targets),
    )
