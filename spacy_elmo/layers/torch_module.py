"""The torch module inside a Thinc layer that wraps one (``BiLMLayer``, the scalar mix's
PyTorchWrapper), and the thread setting of the processes that run it.

Thinc's ``PyTorchShim`` keeps its module as the private ``_model`` and has no public
accessor (refs or attrs would go stale when Thinc copies a layer): ``torch_module`` is
the one place that reads it, and falls back to the shim's one ``nn.Module`` attribute
under any other name.
"""
import multiprocessing
import os
from typing import Optional

import torch
from thinc.api import Model
from torch import nn

from ..errors import Errors

_pinned_pid: Optional[int] = None


def torch_module(model: Model) -> nn.Module:
    """The ``nn.Module`` run by ``model``'s first shim."""
    if not model.shims:
        raise ValueError(Errors.E723.format(name=model.name))
    shim = model.shims[0]
    module = getattr(shim, "_model", None)
    if isinstance(module, nn.Module):
        return module
    found = [value for value in vars(shim).values() if isinstance(value, nn.Module)]
    if len(found) != 1:
        raise ValueError(Errors.E723.format(name=model.name))
    return found[0]


def one_thread_in_workers() -> None:
    """In a multiprocessing worker (``nlp.pipe(n_process=...)``), run torch on one thread,
    set once per process before its first torch op: a forked child hangs in its first
    multi-threaded op once the parent has used torch's OpenMP pool, and N workers with
    all threads each would oversubscribe the CPUs. The main process is never changed."""
    global _pinned_pid
    pid = os.getpid()
    if _pinned_pid != pid and multiprocessing.parent_process() is not None:
        torch.set_num_threads(1)
        _pinned_pid = pid
