"""Writing a command's output folder (a pipeline) without ever half-replacing one.

- The output must not be a file, nor the input or a folder holding it (also through
  links). An existing non-empty folder is replaced only when asked (``force``), and
  only if it holds a spaCy pipeline (config.cfg + meta.json): nothing else is deleted.
- The pipeline is written to ``.NAME.partial`` beside the output and renamed into place
  only when complete; an old pipeline is first renamed to ``.NAME.old`` and deleted
  last. After Ctrl-C or ``kill -9`` the output holds the old pipeline or the new one
  (or, killed between the two renames, the old one waits in ``.NAME.old`` and is put
  back by the next run); a full disk or a read-only folder is one error line.
- ``NAME.lock`` beside the output holds an exclusive ``flock`` while writing (see
  ``output_file.exclusive_lock``), so two runs never write the same folder.
"""
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

from .errors import Errors
from .output_file import exclusive_lock

PIPELINE_FILES = ("config.cfg", "meta.json")


def is_pipeline_dir(path: Path) -> bool:
    return path.is_dir() and all((path / name).is_file() for name in PIPELINE_FILES)


def check_output_folder(output: Path, inputs: Sequence[Path], force: bool) -> None:
    """Refuse a file, a folder that is or holds an input, and (without ``force``) an
    existing non-empty folder; ``force`` replaces only a pipeline folder."""
    if output.exists() and not output.is_dir():
        raise ValueError(Errors.E420.format(path=output))
    target = output.resolve()
    for path in inputs:
        source = Path(path).resolve()
        if source == target or target in source.parents:
            raise ValueError(Errors.E421.format(output=output, input=path))
    if output.is_dir() and any(output.iterdir()):
        if not force:
            raise ValueError(Errors.E422.format(path=output))
        if not is_pipeline_dir(output):
            raise ValueError(Errors.E423.format(path=output))


def _partial(output: Path) -> Path:
    return output.with_name(f".{output.name}.partial")


def _old(output: Path) -> Path:
    return output.with_name(f".{output.name}.old")


def _recover(output: Path) -> None:
    """Undo what a killed run left (we hold the lock): its partial folder goes, an old
    pipeline moved aside comes back if the new one never arrived."""
    shutil.rmtree(_partial(output), ignore_errors=True)
    old = _old(output)
    if old.is_dir():
        if output.exists():
            shutil.rmtree(old)
        else:
            os.rename(old, output)


@contextmanager
def atomic_folder(output: Path, check: Optional[Callable[[], None]] = None) -> Iterator[Path]:
    """Yield an empty temporary folder to write; on success it replaces ``output``.
    ``check`` (e.g. ``check_output_folder``) runs once the lock is held."""
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(output):
            _recover(output)
            if check is not None:
                check()
            tmp = _partial(output)
            try:
                tmp.mkdir()
                yield tmp
                _swap(tmp, output)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    except OSError as err:  # full disk, read-only folder, ...
        raise ValueError(Errors.E424.format(path=output, error=err)) from None


def _swap(tmp: Path, output: Path) -> None:
    old = _old(output)
    if output.exists():
        os.rename(output, old)
    os.rename(tmp, output)
    shutil.rmtree(old, ignore_errors=True)
