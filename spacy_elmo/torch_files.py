"""Loading files written with ``torch.save`` without unpickling anything.

Every torch file spacy-elmo reads (pretraining checkpoints, ``lm_head.pt``, the weights
inside a pipeline's ``elmo/model``) holds only tensors and plain values (dicts, lists,
tuples, strings, numbers, None), so it is read with ``torch.load(weights_only=True)``:
a file holding any other object, which a full unpickler would build by running code,
is refused with an error naming it.
"""
import io
import pickle
from pathlib import Path
from typing import Any, Dict, Iterator, Tuple, Union

import torch

from .errors import Errors

Source = Union[str, Path, bytes]


class UnsafeFileError(ValueError):
    """A torch file holds pickled objects other than tensors and plain values."""

    def __init__(self, path: Union[str, Path], reason: str) -> None:
        super().__init__(Errors.E500.format(path=path, reason=reason))
        self.reason = reason


def load_tensors(source: Source, name: Union[str, Path, None] = None, map_location: Any = "cpu") -> Any:
    """``torch.load(source, weights_only=True)``; ``name`` (the file) is named in errors.

    Raises UnsafeFileError for a file that would need code to be unpickled, and
    ValueError for one that is not a readable torch file at all.
    """
    name = source if name is None and not isinstance(source, bytes) else name
    handle = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        return torch.load(handle, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise UnsafeFileError(name, _reason(err)) from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, AttributeError) as err:
        raise ValueError(Errors.E501.format(path=name, error=f"{type(err).__name__}: {err}")) from None


def _reason(err: pickle.UnpicklingError) -> str:
    """The unpickler's own complaint (e.g. "Unsupported global: GLOBAL io.open ...")."""
    text = str(err)
    marker = "WeightsUnpickler error:"
    if marker in text:
        text = text.split(marker, 1)[1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[0].split(" Please use")[0] if lines else type(err).__name__)[:200]


def save_tensors(data: Any, path: Path) -> None:
    """``torch.save(data)`` to ``path`` through a Python file, so that a failed write
    (a full disk) is an OSError with its errno, not torch's RuntimeError."""
    with open(path, "wb", buffering=0) as handle:
        writer = _WholeWrites(handle)
        try:
            torch.save(data, writer)
        except RuntimeError:  # torch's own complaint about a write that failed
            if writer.error is not None:
                raise writer.error from None
            raise


class _WholeWrites:
    """Writes every byte or raises: a short write (the disk filling up) is continued, and
    the first OSError is kept, to be raised instead of torch's "unexpected pos"."""

    def __init__(self, handle: io.FileIO) -> None:
        self.handle, self.error = handle, None

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        try:
            while view:
                view = view[self.handle.write(view):]
        except OSError as err:
            self.error = self.error or err
            raise
        return memoryview(data).nbytes

    def flush(self) -> None:
        self.handle.flush()


# Thinc's PyTorchShim (de)serializers: its default relies on torch.load's default,
# which unpickles anything before torch 2.6.
def serialize_state(module: torch.nn.Module) -> bytes:
    """A module's state_dict as ``torch.save`` bytes."""
    handle = io.BytesIO()
    torch.save(module.state_dict(), handle)
    return handle.getvalue()


def deserialize_state(module: torch.nn.Module, data: bytes, device) -> torch.nn.Module:
    """Load ``serialize_state`` bytes into ``module`` (weights_only) and move it to
    ``device``; NaN or Inf weights are refused (E530). Bytes that are not a state dict
    (E531) or one that does not fit ``module`` (E722: torch's load_state_dict reports
    that as RuntimeError, the only exception caught here) raise ValueError."""
    name = "<serialized model>"
    state = load_tensors(data, name, map_location=device)
    if not isinstance(state, dict):
        raise ValueError(Errors.E531.format(path=name, found=type(state).__name__))
    check_finite(state, name)
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(Errors.E722.format(error=str(err).strip())) from None
    return module.to(device)


def check_finite(data: Any, name: Union[str, Path]) -> None:
    """E530 when a floating-point tensor anywhere in ``data`` (nested dicts, lists and
    tuples) holds NaN or Inf: such weights would give NaN vectors everywhere."""
    for key, tensor in _tensors(data, ""):
        if tensor.is_floating_point() or tensor.is_complex():
            if not bool(torch.isfinite(tensor).all()):
                raise ValueError(Errors.E530.format(path=name, key=key or "(the file)"))


def _tensors(data: Any, prefix: str) -> Iterator[Tuple[str, torch.Tensor]]:
    if isinstance(data, torch.Tensor):
        yield prefix, data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _tensors(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(data, (list, tuple)):
        for index, value in enumerate(data):
            yield from _tensors(value, f"{prefix}[{index}]")


def load_state_into(module: torch.nn.Module, state: Any, name: Union[str, Path]) -> torch.nn.Module:
    """``module.load_state_dict(state)`` after checking that ``state`` (read from file
    ``name``) holds exactly the module's tensors, with their shapes, all finite:
    errors (E531, E532) name the file and tensor instead of a traceback."""
    expected = module.state_dict()
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ValueError(Errors.E531.format(path=name, found=_describe(state)))
    for key in sorted(set(expected) | set(state)):
        want, found = expected.get(key), state.get(key)
        if want is None or found is None or (
            want.is_floating_point() and tuple(want.shape) != tuple(found.shape)
        ):
            raise ValueError(Errors.E532.format(
                path=name, key=key, expected=_shape(want), found=_shape(found)))
    check_finite(state, name)
    module.load_state_dict(state)
    return module


def _kind_name(kind) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join("None" if k is type(None) else f"a {k.__name__}" for k in kinds)


def _shape(tensor) -> str:
    return "no such tensor" if tensor is None else str(tuple(tensor.shape))


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        kinds = sorted({type(v).__name__ for v in value.values()})
        return f"a dict of {', '.join(kinds) or 'nothing'}"
    return f"a {type(value).__name__}"


def check_keys(data: Any, required: Dict[str, type], name: Union[str, Path]) -> Dict[str, Any]:
    """``data`` as a dict holding ``required`` (key: type); E533 names the file and key."""
    if not isinstance(data, dict):
        raise ValueError(Errors.E533.format(path=name, key="(the file)", expected="a dict",
                                            found=_describe(data)))
    for key, kind in required.items():
        if key not in data or not isinstance(data[key], kind) or isinstance(data[key], bool):
            raise ValueError(Errors.E533.format(
                path=name, key=key, expected=_kind_name(kind),
                found=_describe(data[key]) if key in data else "nothing"))
    return data
