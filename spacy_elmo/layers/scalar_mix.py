"""``spacy_elmo.nn.ScalarMix`` as a Thinc layer over per-doc layer stacks.

Model[List[Floats3d], List[Floats2d]]: each input is one doc's (L+1, n, D) layers, each
output its (n, D) mix. Without layer norm the docs are concatenated along the token axis
for the PyTorch module (the mix is per position, so no padding is needed) and split back
afterwards; with it they are padded to (L+1, B, T, D) with a (B, T) mask, so that each
doc is normalised over its own tokens only (a doc's vectors never depend on its batch).
"""
from typing import Callable, List, Optional, Sequence, Tuple

import torch
from thinc.api import ArgsKwargs, Model, PyTorchWrapper_v3, torch2xp, xp2torch
from thinc.types import Floats2d, Floats3d

from ..nn import ScalarMix
from ..torch_files import deserialize_state, serialize_state

InT = List[Floats3d]
OutT = List[Floats2d]


def ScalarMixLayer(
    n_layers: int, weights: Optional[Sequence[float]] = None, gamma: float = 1.0,
    layer_norm: bool = False, trainable: bool = True,
) -> Model[InT, OutT]:
    """Wrap ``ScalarMix(n_layers, weights, gamma, layer_norm, trainable)``."""
    module = ScalarMix(n_layers, None if weights is None else list(weights), gamma,
                       layer_norm, trainable)
    model = PyTorchWrapper_v3(
        module, convert_inputs=_convert_inputs, convert_outputs=_convert_outputs,
        serialize_model=serialize_state, deserialize_model=deserialize_state,
    )
    model.name = "elmo-scalar-mix"
    model.attrs["n_layers"] = n_layers
    model.attrs["per_doc"] = bool(layer_norm)
    return model


def _lengths(Xs: InT) -> List[int]:
    return [int(X.shape[1]) for X in Xs]


def _concatenate(model: Model, arrays: Sequence, axis: int, shape: Tuple[int, ...]):
    if not arrays:
        return model.ops.alloc(shape, dtype="float32")
    return model.ops.xp.ascontiguousarray(model.ops.xp.concatenate(list(arrays), axis=axis))


def _split(array, lengths: List[int], axis: int) -> list:
    parts, start = [], 0
    for n in lengths:
        index = [slice(None)] * array.ndim
        index[axis] = slice(start, start + n)
        parts.append(array[tuple(index)])
        start += n
    return parts


def _convert_inputs(model: Model, Xs: InT, is_train: bool) -> Tuple[ArgsKwargs, Callable]:
    lengths = _lengths(Xs)
    if model.attrs.get("per_doc") and Xs:
        return _padded_inputs(model, Xs, lengths, is_train)
    # (L+1, sum n, D): every position is a real token, so the module needs no mask
    stacked = _concatenate(model, Xs, axis=1, shape=(model.attrs["n_layers"], 0, 0))
    Xtorch = xp2torch(stacked, requires_grad=is_train)

    def backprop(dX: ArgsKwargs) -> InT:
        return _split(torch2xp(dX.args[0], ops=model.ops), lengths, axis=1)

    return ArgsKwargs(args=(Xtorch,), kwargs={}), backprop


def _padded_inputs(model: Model, Xs: InT, lengths: List[int], is_train: bool):
    n_layers, width = int(Xs[0].shape[0]), int(Xs[0].shape[2])
    # (L+1, B, T, D) zeros past each doc's end, mask (B, T)
    padded = model.ops.alloc4f(n_layers, len(Xs), max(max(lengths), 1), width)
    for b, (X, n) in enumerate(zip(Xs, lengths)):
        padded[:, b, :n] = X
    Xtorch = xp2torch(padded, requires_grad=is_train)
    # built in torch: older Thinc converts arrays through DLPack, which has no bool type
    positions = torch.arange(padded.shape[2], device=Xtorch.device)
    mask_t = positions[None, :] < torch.tensor(lengths, device=Xtorch.device)[:, None]

    def backprop(dX: ArgsKwargs) -> InT:
        d = torch2xp(dX.args[0], ops=model.ops)
        return [d[:, b, :n] for b, n in enumerate(lengths)]

    return ArgsKwargs(args=(Xtorch,), kwargs={"mask": mask_t}), backprop


def _convert_outputs(model: Model, inputs_outputs, is_train: bool) -> Tuple[OutT, Callable]:
    Xs, Ytorch = inputs_outputs
    lengths = _lengths(Xs)
    Y = torch2xp(Ytorch.detach(), ops=model.ops)  # (sum n, D), or (B, T, D) padded
    padded = Y.ndim == 3

    def backprop(dYs: OutT) -> ArgsKwargs:
        if padded:
            dY = model.ops.alloc3f(*Y.shape)
            for b, (n, d) in enumerate(zip(lengths, dYs)):
                dY[b, :n] = d
        else:
            dY = _concatenate(model, dYs, axis=0, shape=tuple(Y.shape))
        dYtorch = xp2torch(dY, device=Ytorch.device)
        return ArgsKwargs(args=(Ytorch,), kwargs={"grad_tensors": dYtorch})

    if padded:
        return [Y[b, :n] for b, n in enumerate(lengths)], backprop
    return _split(Y, lengths, axis=0), backprop
