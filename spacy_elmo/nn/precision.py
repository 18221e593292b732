"""Reduced-precision inference: the number format of the LSTMs' matmuls without autograd.

``compute_dtype`` (a setting of the ``BiLM``, not of its weights):

- "float32": everything in float32 (the default).
- "bfloat16": the LSTM weights kept in bfloat16 and their matmuls run in bfloat16
  (float32 accumulation, bfloat16 results); the gate sums, the cell state, the
  nonlinearities and both clips stay float32.
- "int8": the LSTM weights quantized to int8 with one scale per row of the (out, in)
  matrix (per output unit); each product quantizes its input on the fly, one scale per
  input row (dynamic quantization; 7-bit, so that AVX2's 16-bit pair sums cannot
  saturate), accumulates in int32 and returns float32. Cell state and clips as above,
  each tanh computed as 2 sigmoid(2x) - 1 (``BiLstmLayer._cell_2g``, also for bfloat16).
  A row's result never depends on the other rows of the batch.
- "auto": per case, the format measured fastest (``bench/RESULTS.md``): bfloat16 for
  several rows where the CPU has native bfloat16; else, for LSTMs whose recurrent
  matrix has at least ``AUTO_INT8_MIN_WEIGHTS`` entries (the original's 8.4M; the
  small model's 0.5M run as fast in float32), int8 for several rows and one; else
  float32.

Only the LSTMs (93% of the original model's FLOPs per token) change: the token encoder
(char CNN, highway, projection) stays float32, so layer 0 is exact; and whatever needs
gradients (training, fine-tuning) runs float32. Where a format cannot run (bfloat16 on
a CPU without it, int8 off the CPU or without a quantized engine) a coded warning says
so once and the LSTMs run float32.
"""
import warnings
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple

import torch

from ..errors import Errors, Warnings

COMPUTE_DTYPES = ("float32", "bfloat16", "int8", "auto")
# Run bfloat16 even where the CPU lacks it, each matmul emulated in float32 on
# bfloat16-rounded inputs and weights (the same products, slower): for accuracy
# measurements on any machine (tests, bench/bench_precision.py), never for speed.
EMULATE_BF16 = False
# Values with this many bits of magnitude (plus sign) in the quantized inputs: 7, so
# that u8 x s8 pair sums (AVX2 vpmaddubsw) stay within int16.
_REDUCE_RANGE = True
# "auto" runs int8 for LSTMs with a recurrent matrix (P x 4C) this big or bigger: 8 MB
# in float32, more than a core's cache, where reading a quarter of the bytes pays.
AUTO_INT8_MIN_WEIGHTS = 2 ** 21
_warned = set()
_probed: Dict[str, bool] = {}


def check_compute_dtype(name: str) -> str:
    if name not in COMPUTE_DTYPES:
        raise ValueError(Errors.E900.format(value=name, allowed=", ".join(COMPUTE_DTYPES)))
    return name


def cpu_has_bf16() -> bool:
    """Whether this CPU runs bfloat16 matmuls natively: oneDNN's own check (AVX512 BW/VL/DQ
    or AVX-NE-CONVERT), else the kernel's CPU flags where that private op is missing."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return _cpu_flags_have_bf16(Path("/proc/cpuinfo"))


def _cpu_flags_have_bf16(cpuinfo: Path) -> bool:
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
    return bool(flags & {"avx512_bf16", "amx_bf16", "avx_ne_convert"})


def bf16_native(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and _probe("bf16", cpu_has_bf16)


def int8_available(device: torch.device) -> bool:
    """Dynamic int8 products run on the CPU only (fbgemm / oneDNN quantized engines)."""
    return device.type == "cpu" and _probe("int8", _int8_works)


def _probe(key: str, check: Callable[[], bool]) -> bool:
    if key not in _probed:
        _probed[key] = check()
    return _probed[key]


def _int8_works() -> bool:
    try:
        weight = pack_int8(torch.tensor([[1.0, 2.0], [-1.0, 0.5]]))
        out = linear_int8(torch.tensor([[1.0, 1.0]]), weight)
    except (AttributeError, RuntimeError, NotImplementedError):
        return False
    return bool((out - torch.tensor([[3.0, -0.5]])).abs().max() < 0.1)


def formats(compute_dtype: str, device: torch.device, recurrent_size: int = 0) -> Tuple[str, str]:
    """The formats actually run on ``device``: (several rows, a single row), for an LSTM
    whose recurrent matrix has ``recurrent_size`` entries."""
    bf16 = bf16_native(device) or (EMULATE_BF16 and device.type == "cpu")
    if compute_dtype == "bfloat16":
        return ("bfloat16",) * 2 if bf16 else _fall_back("W910", device)
    if compute_dtype == "int8":
        return ("int8",) * 2 if int8_available(device) else _fall_back("W911", device)
    if compute_dtype == "auto":
        int8 = recurrent_size >= AUTO_INT8_MIN_WEIGHTS and int8_available(device)
        many = "bfloat16" if bf16_native(device) else "int8" if int8 else "float32"
        return many, "int8" if int8 else many
    return "float32", "float32"


def _fall_back(code: str, device: torch.device) -> Tuple[str, str]:
    if (code, device.type) not in _warned:
        _warned.add((code, device.type))
        warnings.warn(getattr(Warnings, code).format(device=device.type))
    return "float32", "float32"


def pack(fmt: str, weight: torch.Tensor):
    """weight (out, in) float32 kept in ``fmt``: int8 -> the quantized engine's packed
    form; bfloat16 -> an (in, out) bfloat16 copy."""
    if fmt == "int8":
        return pack_int8(weight)
    return weight.t().to(torch.bfloat16).contiguous()


def pack_int8(weight: torch.Tensor):
    """(out, in) float32 -> int8 with one scale per row (max |w| of the row maps to 127)."""
    weight = weight.detach().float().contiguous()
    scale = weight.abs().amax(dim=1).clamp_min(torch.finfo(torch.float32).tiny) / 127.0
    q = torch.round(weight / scale.unsqueeze(1)).clamp_(-127, 127).to(torch.int8)
    zero = torch.zeros(weight.shape[0], dtype=torch.int64)
    with warnings.catch_warnings():  # the quantized-tensor constructor's deprecation notice
        warnings.simplefilter("ignore", UserWarning)
        quantized = torch._make_per_channel_quantized_tensor(q, scale.double(), zero, 0)
    return torch.ops.quantized.linear_prepack(quantized, None)


def linear_int8(x: torch.Tensor, packed, add: Optional[torch.Tensor] = None) -> torch.Tensor:
    """x (n, in) float32 @ the int8 weight [+ add (n, out) or (out,)]: (n, out) float32;
    an (n, out) ``add`` holds the result (it is overwritten).

    Each row is quantized with its own scale, whatever else is in the batch: scaled to
    max |x| = 1, then quantized with the fixed scale 1/63 and zero point 64 (7 bits,
    values in [1, 127]); the int32 sums come back as float32 and are multiplied by the
    row's scale, ``add`` added in the same pass.
    """
    scale = x.abs().amax(dim=1, keepdim=True).clamp_min_(_TINY)
    out = _int8_product(x / scale, packed)
    if add is None:
        return out.mul_(scale)
    if add.dim() == 1:  # a bias: into the product's own buffer
        return torch.addcmul(add, out, scale, out=out)
    return add.addcmul_(out, scale)


def _int8_product(rows: torch.Tensor, packed) -> torch.Tensor:
    """rows (n, in), each with max |x| <= 1, quantized with scale 1/63 and zero point 64,
    @ the int8 weight: (n, out) float32 (before the rows' scales)."""
    if _probe("int8_fixed_scale", _fixed_scale_works):
        return _fixed_scale_product(rows, packed)
    return _range_row_product(rows, packed)


def _fixed_scale_product(rows: torch.Tensor, packed) -> torch.Tensor:
    # fbgemm's linear with the input's quantization given: no pass for its min and max
    return torch.ops.quantized.linear_with_input_q_dq_qweight_dq_output_fp32(
        rows, 1.0 / 63.0, 64, packed)


def _range_row_product(rows: torch.Tensor, packed) -> torch.Tensor:
    """Where the fixed-scale op is missing: the engine's dynamic product quantizes its
    whole input with one scale from its min and max; one constant row fixes that range
    to [-64/63, 1] (7 bits: scale 1/63, zero point 64 exactly), so every row is
    quantized as ``_fixed_scale_product`` does."""
    n, width = rows.shape
    padded = torch.cat([rows, _range_row(width, rows.device).unsqueeze(0)])
    return torch.ops.quantized.linear_dynamic(padded, packed, _REDUCE_RANGE)[:n]


def _fixed_scale_works() -> bool:
    """Whether the fixed-scale op exists and gives the dynamic product's results."""
    try:
        weight = pack_int8(torch.tensor([[1.0, 2.0], [-1.0, 0.5], [0.3, -0.7]]))
        rows = torch.tensor([[1.0, -0.25], [0.5, 1.0]])
        return torch.equal(_fixed_scale_product(rows, weight), _range_row_product(rows, weight))
    except (AttributeError, RuntimeError, NotImplementedError):
        return False


_TINY = torch.finfo(torch.float32).tiny
_range_rows: Dict[Tuple[int, str], torch.Tensor] = {}


def _range_row(width: int, device: torch.device) -> torch.Tensor:
    key = (width, str(device))
    if key not in _range_rows:
        row = torch.zeros(width, device=device)
        row[0], row[-1] = 1.0, -64.0 / 63.0
        _range_rows[key] = row
    return _range_rows[key]


def linear(
    fmt: str, x: torch.Tensor, weight, bias: Optional[torch.Tensor] = None,
    add: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """x (n, in) float32 @ ``weight`` as ``pack(fmt, ...)`` made it, [+ bias (out,)]
    [+ add (n, out), which then holds the result]: (n, out) float32."""
    if fmt == "int8":
        out = linear_int8(x, weight, add if add is not None else bias)
        return out if add is None or bias is None else out.add_(bias)
    if bf16_native(x.device):
        out = torch.mm(x.to(torch.bfloat16), weight).float()
    else:  # EMULATE_BF16: bfloat16 products are exact in float32; result rounded as bf16
        out = torch.mm(x.to(torch.bfloat16).float(), weight.float()).to(torch.bfloat16).float()
    if bias is not None:
        out.add_(bias)
    return out if add is None else add.add_(out)
