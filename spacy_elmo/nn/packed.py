"""Inference-only matmuls with weights pre-packed for oneDNN (CPU, float32).

A plain ``x @ W`` re-packs W into the BLAS kernel's blocked layout on every call. With
few rows (an LSTM step over a batch, a short sentence) the packing costs more than the
arithmetic: for a (32 x 512) @ (512 x 16384) step MKL reaches about half the machine's
matmul rate, oneDNN with W packed once close to all of it. The packed copies are
cached per weight and rebuilt when the weights change (``WeightsVersion``), so they
cost memory (about one more copy of the packed weights).

The computation is the same sum of products in another order: results differ from
the plain matmul by float32 rounding only. Used only without autograd; everything
falls back to plain matmuls where oneDNN is missing (or for a single row, where
MKL's matrix-vector product reads the weights faster).

The same cache keeps the reduced-precision forms (``reduced``; ``precision.py``): a
weight run in int8 or bfloat16 has its copy in that format only, no float32 one.
"""
from copy import deepcopy
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import torch

from . import precision

# Set to False to trade speed for memory: no packed copies are made.
ENABLED = True


def _probe() -> bool:
    try:
        weight = torch.ops.mkldnn._reorder_linear_weight(torch.ones(2, 3), 1)
        out = torch.ops.mkldnn._linear_pointwise(torch.ones(1, 3), weight, None, "none", [None], "")
        return bool(out.eq(3.0).all())
    except (AttributeError, RuntimeError):
        return False


AVAILABLE = torch.backends.mkldnn.is_available() and _probe()


class WeightsVersion:
    """The version of a model's weights: every value derived from them (packed copies,
    cached token vectors and sequence outputs, the shared first LSTM step) is kept with
    the version it was made at and rebuilt when that is no longer ``value``.

    One instance is shared by a ``BiLM`` and all its parts. Whatever writes the weights
    in place calls ``bump``: loading (``load_state_dict``, the weight-file readers), a
    move to another device or dtype, an optimizer step (pretraining, the Thinc shim's
    ``finish_update``), and ``reset_token_cache`` after other in-place edits.
    """

    def __init__(self) -> None:
        self.value = 0

    def bump(self) -> None:
        self.value += 1


class PackedWeights:
    """Per-module cache of packed weights, by name, valid for one ``version`` value of
    the weights. Copies and pickles start empty."""

    def __init__(self, version: Optional[WeightsVersion] = None) -> None:
        self.version = version if version is not None else WeightsVersion()
        self._packed: Dict[str, Tuple[int, Any]] = {}

    def _valid(self, name: str) -> Optional[Any]:
        """The entry for ``name`` if made at the current version. Entries of an older
        version are all dropped at once: no stale copy stays beside the new ones."""
        if any(stamp != self.version.value for stamp, _ in self._packed.values()):
            self._packed = {k: v for k, v in self._packed.items() if v[0] == self.version.value}
        entry = self._packed.get(name)
        return None if entry is None else entry[1]

    def get(
        self, name: str, sources: Sequence[torch.Tensor], out_in: Callable[[], torch.Tensor],
        rows: int = 32,
    ) -> Optional[torch.Tensor]:
        """``out_in()``, an (out, in) float32 matrix made from the parameters ``sources``,
        packed for about ``rows`` rows per product; None where packing is off or
        unusable. Repacked when a source changes.
        """
        if not (ENABLED and AVAILABLE and all(
            s.device.type == "cpu" and s.dtype == torch.float32 for s in sources
        )):
            self._packed.pop(name, None)
            return None
        weight = self._valid(name)
        if weight is None:
            with torch.no_grad():
                weight = torch.ops.mkldnn._reorder_linear_weight(out_in().contiguous(), rows)
            self._packed[name] = (self.version.value, weight)
        return weight

    def reduced(
        self, name: str, fmt: str, out_in: Callable[[], torch.Tensor],
        bias: Optional[Callable[[], torch.Tensor]] = None,
    ) -> Any:
        """``out_in()`` in the reduced format ``fmt`` ("int8" or "bfloat16", see
        ``precision.pack``), kept under ``name`` in that format only, rebuilt when the
        weights change."""
        key = f"{name}:{fmt}"
        weight = self._valid(key)
        if weight is None:
            with torch.no_grad():
                weight = precision.pack(fmt, out_in(), None if bias is None else bias())
            self._packed[key] = (self.version.value, weight)
        return weight

    def copy(self, name: str, make: Callable[[], torch.Tensor]) -> torch.Tensor:
        """``make()`` made contiguous and kept (a plain tensor: e.g. a transposed layout
        that reads faster), rebuilt when the weights change. Works on any device/dtype."""
        copy = self._valid(name)
        if copy is None:
            with torch.no_grad():
                copy = make().contiguous()
            self._packed[name] = (self.version.value, copy)
        return copy

    def clear(self) -> None:
        self._packed.clear()

    def __deepcopy__(self, memo) -> "PackedWeights":
        return PackedWeights(deepcopy(self.version, memo))

    def __reduce__(self):
        return (PackedWeights, (self.version,))


def linear(
    x: torch.Tensor, packed: Optional[torch.Tensor], weight: Optional[torch.Tensor],
    bias: Optional[torch.Tensor] = None, add: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """x (n, in) @ weight (in, out) [+ bias (out,)] [+ add (n, out)], without autograd.

    ``packed`` is ``weight`` as packed by ``PackedWeights.get`` (or None: plain matmul).
    With ``packed``, row i of the result is the same, bit for bit, whatever the other
    rows and the thread count (oneDNN's kernel sums each row in one order; measured for
    1 to 300 rows, 1 and 2 threads): a sentence's vectors do not depend on its batch.
    A plain matmul (MKL) sums in an order that depends on n, so a single row takes the
    packed path too, though MKL's matrix-vector product would read the weights faster.
    """
    if packed is not None:
        if add is not None:
            return torch.ops.mkldnn._linear_pointwise.binary(x, add, packed, bias, "add")
        return torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [None], "")
    if add is not None:
        out = torch.addmm(add, x, weight)
        return out if bias is None else out.add_(bias)
    return torch.addmm(bias, x, weight) if bias is not None else x @ weight
