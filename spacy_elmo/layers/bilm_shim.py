"""Thinc's PyTorchShim for the biLM, keeping the core's weight caches true after updates.

The core caches values derived from the weights (token vectors, packed weights, the
shared first LSTM step), keyed on torch's version counters. Thinc's optimizer writes
new weights in place through numpy views, which leaves those counters as they were, so
after ``finish_update`` this shim bumps them itself, before the next forward pass.

Not at once: spaCy calls a component's ``finish_update`` before its listeners
backpropagate into the graph of the same step (``Language.update``), and autograd
refuses a graph whose saved weights changed version. So the bump waits for the next
forward pass, and a prediction made while such a graph still awaits its backward pass
(an annotating component) runs the uncached path instead.
"""
import weakref
from typing import Any, List

import torch
from thinc.api import ArgsKwargs, PyTorchShim
from torch.autograd.graph import increment_version


class BiLMShim(PyTorchShim):
    """PyTorchShim around a ``CachedBiLM`` (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stale = False
        self._pending: List[weakref.ref] = []  # outputs whose backward is still to come

    def finish_update(self, optimizer) -> None:
        changed = any(p.grad is not None for p in self._model.parameters())  # frozen: none
        super().finish_update(optimizer)
        if changed:
            self._stale = True
            self._model.reset_cache()

    def begin_update(self, inputs: ArgsKwargs):
        self._refresh()
        output, backprop = super().begin_update(inputs)
        ref = weakref.ref(output)
        self._pending.append(ref)

        def finish(grads):
            self._pending = [r for r in self._pending if r is not ref]
            return backprop(grads)

        return output, finish

    def predict(self, inputs: ArgsKwargs) -> Any:
        self._refresh()
        if not self._stale:
            return super().predict(inputs)
        with torch.enable_grad():  # the uncached path, without bumping any version
            return self._model(*inputs.args, **inputs.kwargs).detach()

    def _refresh(self) -> None:
        self._pending = [r for r in self._pending if r() is not None]
        if self._stale and not self._pending:
            for tensor in self._model.parameters():
                increment_version(tensor)
            self._stale = False

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_pending"] = []  # weak references do not pickle
        return state
