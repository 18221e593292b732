"""Thinc's PyTorchShim for the biLM: the optimizer updates trainable parameters only.

Thinc's ``finish_update`` writes every parameter that holds a gradient through a numpy
view, which torch's version counters do not see. A frozen biLM (``requires_grad`` off:
the component without ``fine_tune``) keeps values derived from its weights across calls
while those counters say its tensors are unchanged (``spacy_elmo.nn.derived``), so a
frozen parameter is never written here: its gradient, if any, is dropped. A trainable
biLM keeps nothing across calls, so the optimizer's writes need no notice.
"""
from thinc.api import PyTorchShim


class BiLMShim(PyTorchShim):
    """PyTorchShim around a ``CachedBiLM`` (see the module docstring)."""

    def finish_update(self, optimizer) -> None:
        for param in self._model.parameters():
            if not param.requires_grad:
                param.grad = None
        super().finish_update(optimizer)
