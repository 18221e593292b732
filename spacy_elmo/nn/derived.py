"""Values derived from a biLM's weights, kept only while they cannot go stale.

Inference reuses values computed from the weights: packed copies for oneDNN
(``packed``), the char CNN's filters padded into one matrix, the first LSTM step shared
by every sentence, token vectors (``TokenCache``) and whole-sequence outputs (the spaCy
layer's feature cache). All of them live in one ``DerivedValues`` store, handed down
explicitly through the forward calls (a module holds no cache), and the caches keyed by
word or sequence key on the store object. Which store a call gets
(``BiLM.inference_values``) is the whole rule:

* A biLM with any parameter that requires grad (trainable: the default) gets a new,
  empty store for every call (an ``Embedder`` call, a batch of the spaCy layer).
  Nothing derived outlives the call, so no way of writing the weights between calls (an
  optimizer step, ``load_state_dict``, ``param.data.copy_``, numpy views) can leave a
  stale value behind. The price: every call packs the weights again and encodes its
  words again, which dominates small calls (a 20-token sentence alone on the small
  model: ~150 ms instead of ~15 ms); a batch of a few hundred sentences hardly notices.
* A frozen biLM (``bilm.requires_grad_(False)``, what the spaCy component does unless
  it fine-tunes) keeps its store across calls while a ``WeightsStamp`` of its tensors
  (identity, storage and torch's in-place version counter, of every parameter and
  buffer) and its compute dtype (``precision``: the reduced copies) are unchanged: loading, ``copy_``/``add_`` under ``no_grad``, a replaced
  parameter, a device or dtype move and ``requires_grad_(True)`` all give a new store.
  Only writes that bypass torch's version counter (``param.data.copy_(...)``, writes
  through a numpy view) go unseen, and only on a biLM its owner froze.

The version counter is private API (``Tensor._version``): ``in_place_version`` is its
one use; where it is missing, no store is kept across calls (correct, slower).
"""
import weakref
from typing import Any, Callable, Dict, Hashable, Iterable, List, Optional, Sequence, Tuple

import torch
from torch import nn

from . import packed, precision


def in_place_version(tensor: torch.Tensor) -> Optional[int]:
    """torch's count of in-place writes to ``tensor`` (shared with its views and
    ``detach()``), or None where this torch does not expose it."""
    try:
        return int(tensor._version)
    except (AttributeError, RuntimeError, TypeError):
        return None


class WeightsStamp:
    """The state of a module's tensors: equal stamps mean the same tensors, unwritten
    (as far as torch's version counters tell) since the first one was taken."""

    def __init__(self, entries: List[Tuple[weakref.ref, int, torch.device, torch.dtype, int]]) -> None:
        self._entries = entries

    @classmethod
    def of(cls, module: nn.Module) -> Optional["WeightsStamp"]:
        """The stamp of ``module``'s parameters and buffers; None when a parameter
        requires grad or a version is unknown (then nothing may be kept)."""
        if any(p.requires_grad for p in module.parameters()):
            return None
        entries = []
        for tensor in _tensors(module):
            version = in_place_version(tensor)
            if version is None:
                return None
            entries.append((weakref.ref(tensor), tensor.data_ptr(), tensor.device, tensor.dtype, version))
        return cls(entries)

    def matches(self, module: nn.Module) -> bool:
        """Whether ``module`` is frozen and its tensors are the stamped ones, unwritten
        (one pass, nothing allocated: this runs at every inference call)."""
        entries = iter(self._entries)
        for tensor in _tensors(module):
            entry = next(entries, None)
            if entry is None or tensor.requires_grad or entry[0]() is not tensor:
                return False
            if entry[1:] != (tensor.data_ptr(), tensor.device, tensor.dtype, in_place_version(tensor)):
                return False
        return next(entries, None) is None


def _tensors(module: nn.Module) -> Iterable[torch.Tensor]:
    yield from module.parameters()
    yield from module.buffers()


class DerivedValues:
    """One store of values derived from one state of a biLM's weights, by (module, name).

    Made by ``StoreSlot.for_call`` (see the module docstring for when a store may be
    reused); the modules read it, never keep it. Copies and pickles start empty.
    """

    def __init__(self) -> None:
        self._values: Dict[Tuple[int, Hashable], Any] = {}

    def value(self, owner: nn.Module, name: Hashable, make: Callable[[], torch.Tensor]) -> torch.Tensor:
        """``make()`` (detached, contiguous), computed on first use."""
        return self._get(owner, name, lambda: make().detach().contiguous())

    def _get(self, owner: nn.Module, name: Hashable, make: Callable[[], Any]) -> Any:
        key = (id(owner), name)
        found = self._values.get(key)
        if found is None:
            with torch.no_grad():
                found = self._values[key] = make()
        return found

    def packed(
        self, owner: nn.Module, name: Hashable, sources: Sequence[torch.Tensor],
        out_in: Callable[[], torch.Tensor], rows: int = 32,
    ) -> Optional[torch.Tensor]:
        """``out_in()``, an (out, in) float32 matrix made from ``sources``, packed for
        about ``rows`` rows per product (``packed.pack``); None where packing is off or
        unusable for these tensors."""
        if not packed.usable(sources):
            return None
        return self.value(owner, ("packed", name, rows), lambda: packed.pack(out_in(), rows))

    def reduced(
        self, owner: nn.Module, name: Hashable, fmt: str, out_in: Callable[[], torch.Tensor]
    ) -> Any:
        """``out_in()`` in the reduced format ``fmt`` ("int8" or "bfloat16", see
        ``precision.pack``): a weight run in a reduced format has its copy in that format
        only, no float32 one."""
        return self._get(owner, ("reduced", name, fmt), lambda: precision.pack(fmt, out_in()))

    def memo(self, owner: nn.Module, name: Hashable) -> Optional[tuple]:
        """A non-tensor value stored with ``remember`` (e.g. the shared first LSTM step)."""
        return self._values.get((id(owner), name))  # type: ignore[return-value]

    def remember(self, owner: nn.Module, name: Hashable, value: tuple) -> None:
        self._values[(id(owner), name)] = value  # type: ignore[assignment]

    def __deepcopy__(self, memo) -> "DerivedValues":
        return DerivedValues()

    def __reduce__(self):
        return (DerivedValues, ())


class StoreSlot:
    """Where a frozen biLM keeps its store between calls. Copies and pickles start
    empty: the store is derived data, and its stamp refers to the original's tensors."""

    def __init__(self) -> None:
        self._stamp: Optional[WeightsStamp] = None
        self._settings: Hashable = None
        self._store: Optional[DerivedValues] = None

    def for_call(self, module: nn.Module, settings: Hashable = ()) -> DerivedValues:
        """The store for one call on ``module``: the kept one while ``module`` is frozen
        and unchanged and ``settings`` (what else shapes the derived values, e.g. the
        compute dtype) are the same, else a new one (kept only if ``module`` is frozen)."""
        if self._store is not None and settings == self._settings and self._stamp.matches(module):
            return self._store
        self._stamp, self._settings = WeightsStamp.of(module), settings
        self._store = DerivedValues() if self._stamp is not None else None
        return self._store if self._store is not None else DerivedValues()

    def __deepcopy__(self, memo) -> "StoreSlot":
        return StoreSlot()

    def __reduce__(self):
        return (StoreSlot, ())
