"""Inference-only matmuls with weights pre-packed for oneDNN (CPU, float32).

A plain ``x @ W`` re-packs W into the BLAS kernel's blocked layout on every call. With
few rows (an LSTM step over a batch, a short sentence) the packing costs more than the
arithmetic: for a (32 x 512) @ (512 x 16384) step MKL reaches about half the machine's
matmul rate, oneDNN with W packed once close to all of it. The packed copies are kept
in a ``derived.DerivedValues`` store (which decides how long they may live), so they
cost memory (about one more copy of the packed weights).

The computation is the same sum of products in another order: results differ from
the plain matmul by float32 rounding only, and the same for a row whatever the other
rows (see ``linear``). Used only without autograd; everything falls back to plain
matmuls where oneDNN is missing.

oneDNN's packed linear is reached through private torch ops (``torch.ops.mkldnn._*``):
``pack`` and ``_packed_linear`` are their only callers, and ``AVAILABLE`` (a probe at
import) turns packing off where they are missing or behave differently.
"""
from typing import Optional, Sequence

import torch

# Set to False to trade speed for memory: no packed copies are made.
ENABLED = True


def pack(out_in: torch.Tensor, rows: int = 32) -> torch.Tensor:
    """An (out, in) float32 matrix in oneDNN's layout for about ``rows`` rows per product."""
    return torch.ops.mkldnn._reorder_linear_weight(out_in.contiguous(), rows)


def _packed_linear(
    x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor], add: Optional[torch.Tensor]
) -> torch.Tensor:
    if add is not None:
        return torch.ops.mkldnn._linear_pointwise.binary(x, add, weight, bias, "add")
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [None], "")


def _probe() -> bool:
    """Whether the private ops exist and compute a known product."""
    try:
        weight = pack(torch.ones(2, 3), 1)
        plain = _packed_linear(torch.ones(1, 3), weight, None, None)
        added = _packed_linear(torch.ones(2, 3), weight, None, torch.ones(2, 2))
        return bool(plain.eq(3.0).all()) and bool(added.eq(4.0).all())
    except (AttributeError, RuntimeError, TypeError):
        return False


AVAILABLE = torch.backends.mkldnn.is_available() and _probe()


def usable(sources: Sequence[torch.Tensor]) -> bool:
    """Whether weights made from ``sources`` can be packed (CPU float32, oneDNN there)."""
    return ENABLED and AVAILABLE and all(
        s.device.type == "cpu" and s.dtype == torch.float32 for s in sources
    )


def linear(
    x: torch.Tensor, packed: Optional[torch.Tensor], weight: Optional[torch.Tensor],
    bias: Optional[torch.Tensor] = None, add: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """x (n, in) @ weight (in, out) [+ bias (out,)] [+ add (n, out)], without autograd.

    ``packed`` is ``weight`` as packed by ``pack`` (or None: plain matmul).
    With ``packed``, row i of the result is the same, bit for bit, whatever the other
    rows and the thread count (oneDNN's kernel sums each row in one order; measured for
    1 to 300 rows, 1 and 2 threads): a sentence's vectors do not depend on its batch.
    A plain matmul (MKL) sums in an order that depends on n, so a single row takes the
    packed path too, though MKL's matrix-vector product would read the weights faster.
    """
    if packed is not None:
        return _packed_linear(x, packed, bias, add)
    if add is not None:
        out = torch.addmm(add, x, weight)
        return out if bias is None else out.add_(bias)
    return torch.addmm(bias, x, weight) if bias is not None else x @ weight
