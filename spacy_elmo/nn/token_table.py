"""The batch layout every caller runs the biLM on: a table of distinct tokens and ids.

A batch of token sequences becomes the list of its distinct tokens (the token encoder
runs once per distinct token; a batch of 128 x 20 tokens has far fewer than 2560) and a
(B, T) int64 array of ids into that table, **counted from 1**: id 0 is padding, after the
end of a shorter sequence, and ``gather_rows`` reads it as a zero vector. Prediction
(``Embedder``), the spaCy layer (``BiLMLayer``) and pretraining (``pretrain.batch``) all
build their batches with ``token_table``.
"""
from typing import Dict, Hashable, List, Sequence, Tuple, TypeVar

import numpy
import torch

K = TypeVar("K", bound=Hashable)


def token_table(sequences: Sequence[Sequence[K]]) -> Tuple[List[K], numpy.ndarray]:
    """The distinct tokens of ``sequences`` in order of first occurrence, and ids (B, T)
    (T: the longest sequence): ``ids[b, t]`` is 1 + the row of ``sequences[b][t]`` in the
    table, 0 past the end of sequence b."""
    rows: Dict[K, int] = {}
    ids = numpy.zeros((len(sequences), max(map(len, sequences), default=0)), dtype=numpy.int64)
    for b, sequence in enumerate(sequences):
        ids[b, : len(sequence)] = [rows.setdefault(token, len(rows) + 1) for token in sequence]
    return list(rows), ids


def gather_rows(vectors: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """vectors (V, P), one per table row; ids (any shape) counted from 1 ->
    (*ids.shape, P), exactly zero where the id is 0."""
    table = torch.cat([vectors.new_zeros((1, vectors.shape[1])), vectors])  # (V+1, P)
    return table[ids.to(table.device)]
