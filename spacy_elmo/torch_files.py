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
from typing import Any, Union

import torch

from .errors import Errors

Source = Union[str, Path, bytes]


class UnsafeFileError(ValueError):
    """A torch file holds pickled objects other than tensors and plain values."""

    def __init__(self, path: Union[str, Path], reason: str) -> None:
        super().__init__(Errors.E500.format(path=path, reason=reason))
        self.reason = reason


def load_tensors(source: Source, name: Union[str, Path], map_location: Any = "cpu") -> Any:
    """``torch.load(source, weights_only=True)``; ``name`` (the file) is named in errors.

    Raises UnsafeFileError for a file that would need code to be unpickled, and
    ValueError for one that is not a readable torch file at all.
    """
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
    with open(path, "wb") as handle:
        torch.save(data, handle)


# Thinc's PyTorchShim (de)serializers: its default relies on torch.load's default,
# which unpickles anything before torch 2.6.
def serialize_state(module: torch.nn.Module) -> bytes:
    """A module's state_dict as ``torch.save`` bytes."""
    handle = io.BytesIO()
    torch.save(module.state_dict(), handle)
    return handle.getvalue()


def deserialize_state(module: torch.nn.Module, data: bytes, device) -> torch.nn.Module:
    """Load ``serialize_state`` bytes into ``module`` (weights_only) and move it to ``device``."""
    module.load_state_dict(load_tensors(data, "<serialized model>", map_location=device))
    return module.to(device)
