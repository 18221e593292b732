"""Token strings -> tensors: char ids of the distinct tokens, where each goes, targets.

The char-CNN runs once per distinct token of a batch (``char_ids`` (U, max_chars)),
and ``index`` places the results, counted from 1 as ``nn.token_table`` builds them
for every caller.
"""
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import numpy
import torch

from ..nn.chars import BOS_TOKEN, EOS_TOKEN
from ..nn.lexicon import BOS_KEY, EOS_KEY, Lexicon
from ..nn.token_table import token_table
from .vocab import Vocab

IGNORE = -100  # target of a position that predicts nothing
_BOUNDARY_KEYS = {BOS_TOKEN: BOS_KEY, EOS_TOKEN: EOS_KEY}


class TokenIds:
    """The ids a token encoder reads (``lexicon.ids``: the path every biLM input takes),
    per token string of the corpus, memoized (bounded). The corpus spells the sentence
    boundaries "<S>" / "</S>" (as vocab.txt does): they are the lexicon's boundary keys."""

    def __init__(self, lexicon: Lexicon, max_size: int = 500_000) -> None:
        self.lexicon, self.max_size = lexicon, max_size
        self.width = int(lexicon.ids([]).shape[1])
        self._cache: Dict[str, numpy.ndarray] = {}

    def __call__(self, token: str) -> numpy.ndarray:
        ids = self._cache.get(token)
        if ids is None:
            if len(self._cache) >= self.max_size:
                self._cache.clear()
            ids = self.lexicon.ids([_BOUNDARY_KEYS.get(token, token)])[0]
            self._cache[token] = ids
        return ids


def distinct(rows: Sequence[Sequence[str]], chars: TokenIds) -> Tuple[torch.Tensor, numpy.ndarray]:
    """Char ids (U, max_chars) of the distinct tokens of ``rows``, and ids (B, T) into
    them (``nn.token_table``: from 1, 0 is padding)."""
    tokens, ids = token_table(rows)
    if not tokens:
        return torch.zeros((0, chars.width), dtype=torch.int64), ids
    return torch.from_numpy(numpy.stack([chars(t) for t in tokens])), ids


@dataclass
class WindowBatch:
    """One window of both streams. char_ids (U, max_chars); index (from 1, no padding),
    targets: (2, T, B), time-major, [0] forward stream and [1] backward stream."""

    char_ids: torch.Tensor
    index: torch.Tensor
    targets: torch.Tensor

    @property
    def n_targets(self) -> int:
        return int(self.targets[0].numel())

    def to(self, device) -> "WindowBatch":
        return WindowBatch(*(t.to(device) for t in (self.char_ids, self.index, self.targets)))


def encode_windows(forward: List[List[str]], backward: List[List[str]], vocab: Vocab,
                   chars: TokenIds) -> WindowBatch:
    """Windows of T + 1 tokens per row: inputs are tokens [0, T), targets tokens [1, T]."""
    steps = len(forward[0]) - 1
    inputs = [row[:steps] for stream in (forward, backward) for row in stream]
    char_ids, index = distinct(inputs, chars)
    # (2B, T) -> (2, B, T) -> (2, T, B)
    index = index.reshape(2, len(forward), steps).transpose(0, 2, 1)
    targets = numpy.stack([vocab.ids([t for row in stream for t in row[1:]]).reshape(-1, steps)
                           for stream in (forward, backward)]).transpose(0, 2, 1)
    return WindowBatch(char_ids, torch.from_numpy(numpy.ascontiguousarray(index)),
                       torch.from_numpy(numpy.ascontiguousarray(targets)))


@dataclass
class SentenceBatch:
    """Sentences wrapped in <S> ... </S>, one per row. char_ids (U, max_chars) of the
    distinct tokens; index (B, T) their rows counted from 1 (0: padding, as
    ``BiLM.contextualize_rows`` reads it); lengths (B,); targets (2, B, T) with ``IGNORE``
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


def encode_sentences(sentences: List[List[str]], vocab: Vocab, chars: TokenIds) -> SentenceBatch:
    """Each sentence predicts its n words and </S> forwards, its n words and <S> backwards."""
    rows = [[BOS_TOKEN] + list(s) + [EOS_TOKEN] for s in sentences]
    width = max(len(r) for r in rows)
    char_ids, index = distinct(rows, chars)
    targets = numpy.full((2, len(rows), width), IGNORE, dtype=numpy.int64)
    for b, row in enumerate(rows):
        ids = vocab.ids(row)
        targets[0, b, : len(row) - 1] = ids[1:]
        targets[1, b, 1 : len(row)] = ids[:-1]
    return SentenceBatch(
        char_ids, torch.from_numpy(index),
        torch.tensor([len(r) for r in rows], dtype=torch.int64), torch.from_numpy(targets),
    )
