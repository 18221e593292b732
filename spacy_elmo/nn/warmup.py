"""Warm-up: store a state computed from text as the biLM's fixed starting state."""
from typing import Sequence

import torch

from .bilm import BiLM
from .embedder import Embedder


def warm_up(bilm: BiLM, sentences: Sequence[Sequence[str]], batch_size: int = 32) -> BiLM:
    """Run the original stateful procedure over ``sentences`` once, then store the mean
    final LSTM state over the batch rows as ``bilm``'s initial state.

    Afterwards every stateless call starts from this warmed state: outputs get the
    benefit of a state that has seen text, and stay deterministic (the original's
    carried-over state made them depend on whatever ran before). The state is saved
    with the model (``save_allennlp`` writes it as extra datasets).
    """
    embedder = Embedder(bilm, batch_size=batch_size, stateful=True)
    embedder(sentences)
    if embedder.state is None:
        return bilm
    bilm.set_initial_state([(h.mean(dim=1), c.mean(dim=1)) for h, c in embedder.state])
    return bilm


def reset_initial_state(bilm: BiLM) -> BiLM:
    """Go back to the zero starting state."""
    with torch.no_grad():
        bilm.initial_h.zero_()
        bilm.initial_c.zero_()
    return bilm
