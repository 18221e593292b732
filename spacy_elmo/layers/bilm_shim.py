"""Thinc's PyTorchShim for the biLM, keeping the core's weight caches true after updates.

The core caches values derived from the weights (token vectors, packed weights, the
shared first LSTM step, sequence outputs), each kept with the ``bilm.weights_version``
it was made at. Thinc's optimizer writes new weights in place through numpy views,
which torch does not see, so ``finish_update`` bumps that version itself. Only our
counter changes: torch's own version counters stay as they are, so the graph of the
same step, which spaCy's listeners backpropagate through after the component's
``finish_update`` (``Language.update``), is still accepted by autograd.
"""
from thinc.api import PyTorchShim


class BiLMShim(PyTorchShim):
    """PyTorchShim around a ``CachedBiLM`` (see the module docstring)."""

    def finish_update(self, optimizer) -> None:
        changed = any(p.grad is not None for p in self._model.parameters())  # frozen: none
        super().finish_update(optimizer)
        if changed:
            self._model.reset_cache()  # bumps bilm.weights_version
