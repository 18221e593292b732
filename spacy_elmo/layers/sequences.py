"""Which LM sequences the biLM reads for a batch of docs, and where their outputs go.

- Each sentence is one LM sequence wrapped in ``<S>`` ... ``</S>``, as the biLM was trained,
  when the doc has sentence boundaries (a senter, sentencizer or parser ran before);
  otherwise the whole doc is one sequence.
- Whitespace tokens are left out of the LM sequence; they keep all-zero outputs.
- A sequence longer than ``max_length`` tokens is cut into windows of ``max_length`` tokens
  that overlap by at least ``overlap`` tokens. Only the real sequence start and end get
  ``<S>``/``</S>``: a cut is not a sentence boundary. Each token takes its outputs from the
  window where it is farthest from a cut (the real start and end are not cuts), so it has
  at least ``overlap // 2`` tokens of context on both sides of it in the window it comes
  from, and all of them when the sequence fits one window.
"""
from dataclasses import dataclass
from typing import Iterator, List, Sequence, Tuple

import numpy
from spacy.tokens import Doc

from ..data_classes import is_skipped
from ..nn.lexicon import BOS_KEY, EOS_KEY, Key


@dataclass
class Window:
    """One LM sequence to run: ``keys`` (boundary keys included) of doc ``doc``.

    Output position ``src[i]`` of the window (boundaries counted) is the result for
    token ``dst[i]`` of the doc.
    """

    doc: int
    keys: List[Key]
    src: numpy.ndarray
    dst: numpy.ndarray


def plan_windows(docs: Sequence[Doc], max_length: int, overlap: int) -> List[Window]:
    """All the windows of a batch of docs, in doc order."""
    windows: List[Window] = []
    for index, doc in enumerate(docs):
        for tokens in lm_sequences(doc):
            windows.extend(_split_sequence(index, doc, tokens, max_length, overlap))
    return windows


def lm_sequences(doc: Doc) -> Iterator[numpy.ndarray]:
    """Token indices (whitespace tokens left out) of each LM sequence of ``doc``."""
    spans = doc.sents if doc.has_annotation("SENT_START") else [doc[:]]
    for span in spans:
        indices = [token.i for token in span if not is_skipped(token)]
        if indices:
            yield numpy.asarray(indices, dtype="int64")


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


def _split_sequence(
    index: int, doc: Doc, tokens: numpy.ndarray, max_length: int, overlap: int
) -> List[Window]:
    n = len(tokens)
    bounds = window_bounds(n, max_length, overlap)
    owner = assign_positions(n, bounds)
    windows = []
    for k, (start, end) in enumerate(bounds):
        bos, eos = start == 0, end == n
        keys: List[Key] = [BOS_KEY] if bos else []
        keys.extend(doc[int(i)].text for i in tokens[start:end])
        if eos:
            keys.append(EOS_KEY)
        taken = numpy.flatnonzero(owner[start:end] == k)
        windows.append(Window(index, keys, taken + int(bos), tokens[start + taken]))
    return windows


def batches_by_length(
    windows: Sequence[Window], batch_size: int, max_batch_tokens: int
) -> Iterator[List[Window]]:
    """Windows sorted longest first (stable), in batches of at most ``batch_size`` windows
    and ``max_batch_tokens`` padded positions (one window always fits)."""
    order = sorted(range(len(windows)), key=lambda i: -len(windows[i].keys))
    batch: List[Window] = []
    for i in order:
        window = windows[i]
        longest = len(batch[0].keys) if batch else len(window.keys)
        if batch and (len(batch) == batch_size or (len(batch) + 1) * longest > max_batch_tokens):
            yield batch
            batch = []
        batch.append(window)
    if batch:
        yield batch
