"""Which LM sequences the biLM reads for a batch of docs, and where their outputs go.

- Each sentence is one LM sequence wrapped in ``<S>`` ... ``</S>``, as the biLM was trained,
  when the doc has sentence boundaries (a senter, sentencizer or parser ran before);
  otherwise the whole doc is one sequence.
- Whitespace tokens are left out of the LM sequence; they keep all-zero outputs.
- A sequence longer than ``max_length`` tokens is cut into overlapping windows, as
  ``nn/windows.py`` describes (``embed`` cuts its long lines the same way).
"""
from dataclasses import dataclass
from typing import Iterator, List, Sequence

import numpy
from spacy.tokens import Doc

from ..data_classes import is_skipped
from ..nn.lexicon import BOS_KEY, EOS_KEY, Key
from ..nn.windows import plan_pieces


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


def _split_sequence(
    index: int, doc: Doc, tokens: numpy.ndarray, max_length: int, overlap: int
) -> List[Window]:
    windows = []
    for piece in plan_pieces(len(tokens), max_length, overlap):
        keys: List[Key] = [BOS_KEY] if piece.bos else []
        keys.extend(doc[int(i)].text for i in tokens[piece.start : piece.end])
        if piece.eos:
            keys.append(EOS_KEY)
        windows.append(Window(index, keys, piece.src, tokens[piece.dst]))
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
