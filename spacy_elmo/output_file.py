"""Writing a command's output file without ever destroying data.

- The output must not be the input (also through links), and an existing output is
  replaced only when asked (``force``). A missing output folder is created.
- The data goes to ``.NAME.partial`` beside the output, renamed over it only when
  complete: after Ctrl-C or ``kill -9`` the output path holds either its old content
  (or nothing) or a complete file.
- ``NAME.lock`` beside the output holds an exclusive ``flock`` while a process writes:
  a second process writing the same output gets a clear error. The kernel releases the
  lock when its holder dies, so a lock left by a killed process never blocks: the next
  writer takes it over (and removes that process's ``.partial`` file).
"""
import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

from .errors import Errors


def check_output(input_path: Path, output_path: Path, force: bool) -> None:
    """Refuse writing over the input or (without ``force``) over an existing output."""
    if output_path.exists() or output_path.is_symlink():
        if input_path.exists() and output_path.exists() and os.path.samefile(input_path, output_path):
            raise ValueError(Errors.E503.format(input=input_path, output=output_path))
        if output_path.is_dir():
            raise ValueError(Errors.E506.format(path=output_path))
        if not force:
            raise ValueError(Errors.E504.format(path=output_path))


def lock_path(output_path: Path) -> Path:
    return output_path.with_name(output_path.name + ".lock")


def partial_path(output_path: Path) -> Path:
    return output_path.with_name(f".{output_path.name}.partial")


@contextmanager
def exclusive_lock(output_path: Path) -> Iterator[None]:
    """Hold ``NAME.lock`` (flock) while writing ``output_path``; E505 if another holds it."""
    path = lock_path(output_path)
    while True:
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ValueError(Errors.E505.format(path=output_path, lock=path)) from None
        try:  # the file we locked may have been removed by its last holder: lock the new one
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)


@contextmanager
def atomic_output(output_path: Path, check: Optional[Callable[[], None]] = None) -> Iterator[Path]:
    """Yield the temporary path to write; on success it is renamed to ``output_path``.
    ``check`` (e.g. ``check_output``) runs again once the lock is held."""
    output_path.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(output_path):
        if check is not None:
            check()
        tmp = partial_path(output_path)
        tmp.unlink(missing_ok=True)  # left by a killed writer: we hold the lock now
        try:
            yield tmp
            os.replace(tmp, output_path)
        finally:
            tmp.unlink(missing_ok=True)
