"""Checkpoints of a pretraining run, and the layout of its output directory.

OUTPUT_DIR/config.cfg      the run's config (what --resume checks against)
OUTPUT_DIR/vocab.txt       the softmax vocabulary
OUTPUT_DIR/log.jsonl       one JSON record per logged step / evaluation / event
OUTPUT_DIR/checkpoints/    step-XXXXXXXX.pt and latest.json (which one to resume)
OUTPUT_DIR/final/          options.json + weights.hdf5, lm_head.pt, vocab.txt, config.cfg,
                           pipeline/ (a spaCy pipeline with the "elmo" component)

A checkpoint holds the model and softmax, the optimizer, the step, every process's
random states, the data position of every batch row and the carried LSTM state, all as
tensors and plain values (no pickled objects): it is read with
``torch.load(weights_only=True)``, so a crafted file cannot run code. It is written to a temporary file and renamed, then ``latest.json`` is replaced the same way,
so a kill at any moment leaves the previous checkpoint intact.
"""
import random
import re
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy
import srsly
import torch

from ..errors import Errors
from ..model_files import FINAL
from ..output_file import atomic_write
from ..torch_files import check_finite, check_keys, load_tensors, save_tensors

CONFIG_FILE, VOCAB_FILE, LOG_FILE = "config.cfg", "vocab.txt", "log.jsonl"
CHECKPOINTS, LATEST = "checkpoints", "latest.json"
RUN_FILES = (CONFIG_FILE, VOCAB_FILE, LOG_FILE, CHECKPOINTS, FINAL)
STEP_FILE = re.compile(r"step-\d{8}\.pt")  # the only names latest.json may give
FORMAT = "spacy-elmo-pretrain-v1"
# What every checkpoint holds, and its type (checked when one is read).
CHECKPOINT_KEYS = {"model": dict, "optimizer": dict, "step": int, "tokens_seen": int,
                   "elapsed_s": (int, float), "world_size": int, "rows": dict,
                   "lstm_state": (list, type(None)), "rng": list, "corpus": list}


def existing_run(output_dir: Path) -> List[str]:
    """Which files of a run the directory already holds (empty: none)."""
    return [name for name in RUN_FILES if (output_dir / name).exists()]


def rng_state() -> Dict[str, Any]:
    """The random states as tensors and plain values (no numpy arrays, no tuples to pickle)."""
    kind, keys, pos, has_gauss, cached = numpy.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": str(kind), "keys": torch.from_numpy(keys.astype(numpy.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": {"version": int(version), "internal": [int(x) for x in internal],
                   "gauss_next": gauss_next},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    keys = n["keys"].numpy().astype(numpy.uint32)
    numpy.random.set_state((n["kind"], keys, n["pos"], n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def save_checkpoint(output_dir: Path, step: int, payload: Dict[str, Any], keep: int) -> Path:
    """Write checkpoints/step-<step>.pt atomically, point latest.json at it, prune old ones."""
    directory = output_dir / CHECKPOINTS
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"step-{step:08d}.pt"
    atomic_write(path, lambda tmp: save_tensors({"format": FORMAT, "step": step, **payload}, tmp))
    history = [name for name in _history(directory) if name != path.name] + [path.name]
    latest = {"file": path.name, "step": step, "history": history[-keep:]}
    atomic_write(directory / LATEST, lambda tmp: srsly.write_json(tmp, latest))
    for name in history[:-keep]:
        (directory / name).unlink(missing_ok=True)
    return path


def _history(directory: Path) -> List[str]:
    latest = directory / LATEST
    return list(read_latest(latest).get("history", [])) if latest.exists() else []


def read_latest(path: Path) -> Dict[str, Any]:
    """checkpoints/latest.json, checked: an object whose "file" and "history" give only
    names of checkpoints/step-XXXXXXXX.pt files (E330 otherwise: a crafted index must
    not decide what a run reads or deletes)."""
    try:
        data = srsly.read_json(path)
    except ValueError as err:
        raise ValueError(Errors.E502.format(path=path, error=f"not valid JSON ({err})")) from None
    if not isinstance(data, dict) or "file" not in data:
        raise ValueError(Errors.E502.format(path=path, error="no checkpoint file name in it"))
    history = data.get("history", [])
    if not isinstance(history, list):
        raise ValueError(Errors.E330.format(path=path, problem='its "history" is not a list'))
    for what, name in [("file", data["file"])] + [("history entry", n) for n in history]:
        if not isinstance(name, str) or not STEP_FILE.fullmatch(name):
            problem = f"its {what} {_shown(str(name))!r} is not a file name step-XXXXXXXX.pt"
            raise ValueError(Errors.E330.format(path=path, problem=problem))
    return data


def _shown(text: str, head: int = 40, tail: int = 80) -> str:
    """A name read from a file, short enough for one error line: its start and its end
    (where a path names its file), the middle elided."""
    return text if len(text) <= head + tail + 1 else f"{text[:head]}…{text[-tail:]}"


def latest_checkpoint(output_dir: Path) -> Optional[Path]:
    """The checkpoint latest.json names (None without one); never a link."""
    directory = output_dir / CHECKPOINTS
    latest = directory / LATEST
    if not latest.exists():
        return None
    for path in (directory, latest):
        if path.is_symlink():
            raise ValueError(Errors.E331.format(path=path))
    path = directory / read_latest(latest)["file"]
    if path.is_symlink():
        raise ValueError(Errors.E331.format(path=path))
    return path


def load_checkpoint(path: Path, map_location="cpu") -> Dict[str, Any]:
    """Read a checkpoint without unpickling anything (``weights_only=True``)."""
    if not path.is_file():
        raise FileNotFoundError(Errors.E320.format(path=path, error="no such file"))
    data = load_tensors(path, path, map_location)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(Errors.E320.format(path=path, error="unknown format"))
    check_keys(data, CHECKPOINT_KEYS, path)
    check_finite(data, path)
    return data
