"""Long LM sequences cut into overlapping windows, and where each token's output comes from.

A sequence longer than ``max_length`` tokens is cut into windows of ``max_length`` tokens
that overlap by at least ``overlap`` tokens. Only the real sequence start and end get
``<S>``/``</S>``: a cut is not a sentence boundary. Each token takes its outputs from the
window where it is farthest from a cut (the real start and end are not cuts), so it has
at least ``overlap // 2`` tokens of context on both sides of it in the window it comes
from, and all of them when the sequence fits one window.

Shared by the spaCy component (``layers/sequences.py``) and ``embed`` (``embed_file.py``),
so both cut a long sentence the same way.
"""
from dataclasses import dataclass
from typing import List, Sequence, Tuple

import numpy

# The spaCy component's defaults (spacy-elmo.ElmoModel.v2), also used by ``embed``.
MAX_LENGTH = 512
WINDOW_OVERLAP = 64


@dataclass
class Piece:
    """Window [start, end) of a sequence of n tokens: ``bos`` / ``eos`` when it holds the
    real start / end. Output position ``src[i]`` of the window (boundaries counted) is
    the result for token ``dst[i]`` of the sequence (0-based, boundaries not counted)."""

    start: int
    end: int
    bos: bool
    eos: bool
    src: numpy.ndarray
    dst: numpy.ndarray


def window_bounds(n: int, max_length: int, overlap: int) -> List[Tuple[int, int]]:
    """[start, end) of windows covering n positions; consecutive ones share >= overlap."""
    if n <= max_length:
        return [(0, n)]
    stride = max_length - overlap
    starts = list(range(0, n - max_length, stride)) + [n - max_length]
    return [(start, start + max_length) for start in starts]


def assign_positions(n: int, bounds: Sequence[Tuple[int, int]]) -> numpy.ndarray:
    """For each of n positions, the window where it is farthest from a cut (ties: first)."""
    best = numpy.full((n,), -1.0)
    owner = numpy.zeros((n,), dtype="int64")
    for k, (start, end) in enumerate(bounds):
        pos = numpy.arange(start, end)
        left = pos - start if start > 0 else numpy.full(pos.shape, numpy.inf)
        right = end - 1 - pos if end < n else numpy.full(pos.shape, numpy.inf)
        distance = numpy.minimum(left, right)
        better = distance > best[start:end]
        best[start:end][better] = distance[better]
        owner[start:end][better] = k
    return owner


def plan_pieces(n: int, max_length: int, overlap: int) -> List[Piece]:
    """The windows of a sequence of n tokens and the outputs each one provides."""
    bounds = window_bounds(n, max_length, overlap)
    owner = assign_positions(n, bounds)
    pieces = []
    for k, (start, end) in enumerate(bounds):
        bos, eos = start == 0, end == n
        taken = numpy.flatnonzero(owner[start:end] == k)
        pieces.append(Piece(start, end, bos, eos, taken + int(bos), start + taken))
    return pieces
