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
- A failed write (full disk, read-only folder) is one ``WriteFailed`` error naming the
  file (E510), and leaves neither the temporary file nor the lock behind.
"""
import errno
import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Iterator, Optional, Tuple

from .errors import Errors


class WriteFailed(OSError):
    """An output could not be written (disk full, read-only folder, ...): E510."""

    def __init__(self, path: Path, err: OSError) -> None:
        super().__init__(Errors.E510.format(path=path, reason=err.strerror or err))
        self.errno, self.cause = err.errno, err


def check_output(input_path: Path, output_path: Path, force: bool) -> None:
    """Refuse writing over the input or (without ``force``) over an existing output."""
    if output_path.exists() or output_path.is_symlink():
        check_not_input(output_path, [input_path])
        if output_path.is_dir():
            raise ValueError(Errors.E506.format(path=output_path))
        if not force:
            raise ValueError(Errors.E504.format(path=output_path))


def lock_path(output_path: Path) -> Path:
    return output_path.with_name(output_path.name + ".lock")


def partial_path(output_path: Path) -> Path:
    return output_path.with_name(f".{output_path.name}.partial")


def check_new_output(output: Path, inputs: Iterable[Path]) -> None:
    """An output that may replace an older one (no --force needed), but never an input
    (E503, E509) nor a folder (E506)."""
    check_not_input(output, inputs)
    if output.is_dir():
        raise ValueError(Errors.E506.format(path=output))


def check_not_input(output: Path, inputs: Iterable[Path]) -> None:
    """Refuse an output that is one of the input files (also through links) or lies in
    an input folder (E503, E509)."""
    for source in inputs:
        if source.is_dir():
            if is_inside(output, source):
                raise ValueError(Errors.E509.format(output=output, input=source))
        elif same_file(source, output):
            raise ValueError(Errors.E503.format(input=source, output=output))


def same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` are the same file: one inode, or one resolved path."""
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def is_inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies below it, links resolved."""
    path, folder = path.resolve(), folder.resolve()
    return path == folder or path.is_relative_to(folder)


@contextmanager
def exclusive_lock(output_path: Path) -> Iterator[None]:
    """Hold ``NAME.lock`` (flock) while writing ``output_path``; E505 if another holds it."""
    path = lock_path(output_path)
    with file_lock(path, lambda holder: Errors.E505.format(path=output_path, lock=path)):
        yield


@contextmanager
def file_lock(path: Path, busy: Callable[[str], str]) -> Iterator[None]:
    """Hold the lock file ``path`` (flock, the holder's pid in it) and remove it at the
    end; ValueError(busy(holder)) when another process holds it."""
    with write_errors(path):
        fd = _lock(path, busy)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)


def _lock(path: Path, busy: Callable[[str], str]) -> int:
    while True:
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
            os.close(fd)
            raise ValueError(busy(f"pid {holder}" if holder.isdigit() else "pid unknown")) from None
        try:  # the file we locked may have been removed by its last holder: lock the new one
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


@contextmanager
def atomic_output(output_path: Path, check: Optional[Callable[[], None]] = None) -> Iterator[Path]:
    """Yield the temporary path to write; on success it is renamed to ``output_path``.
    ``check`` (e.g. ``check_output``) runs again once the lock is held."""
    with write_errors(output_path):
        output_path.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(output_path):
        if check is not None:
            check()
        tmp = partial_path(output_path)
        remove(tmp)  # left by a killed writer: we hold the lock now
        try:
            with write_errors(output_path):
                yield tmp
                os.replace(tmp, output_path)
        finally:
            remove(tmp)


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` to ``.NAME.tmpPID`` beside ``path``, then rename it over ``path``
    (atomic on POSIX); on failure the temporary file is removed."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with write_errors(path):
            write(tmp)
            os.replace(tmp, path)
    finally:
        remove(tmp)


def remove(path: Path) -> None:
    """Delete ``path`` if it is there (a temporary file a failed write may leave)."""
    try:
        path.unlink()
    except OSError:  # missing (EROFS too on a read-only folder); else it stays: say so
        if path.exists():
            raise


def append_line(path: Path, line: str) -> None:
    """Append ``line`` and a newline to ``path`` in one write; a failed append is cut back,
    so the file never ends in half a line (WriteFailed naming ``path``)."""
    data = memoryview((line + "\n").encode("utf8"))
    with write_errors(path):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            start = os.lseek(fd, 0, os.SEEK_END)
            try:
                while data:
                    data = data[os.write(fd, data):]
            except OSError:
                os.ftruncate(fd, start)
                raise
        finally:
            os.close(fd)


# errno values of a write that cannot succeed here: disk full, quota, read-only, too big
WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.EACCES, errno.EPERM}


@contextmanager
def write_errors(path: Path) -> Iterator[None]:
    """Turn an OSError of a write that cannot succeed into WriteFailed naming ``path``."""
    try:
        yield
    except WriteFailed as err:  # named after the file written, not its temporary name
        raise WriteFailed(path, err.cause) from None
    except OSError as err:
        if err.errno not in WRITE_ERRNOS:
            raise
        raise WriteFailed(path, err) from None


@contextmanager
def hdf5_writer(path: Path) -> Iterator[Tuple[Any, Callable[[], None]]]:
    """``(h5py.File(path, "w"), check)``. HDF5 cannot recover from a failed write (on a
    full disk it prints an error for every cached object it cannot flush, then may
    crash), so its writes go through a file that keeps the first error and drops the
    rest: ``check()`` raises it as WriteFailed, and so does leaving the block."""
    import h5py

    with write_errors(path):
        handle = open(path, "w+b")
    guard = _FirstErrorFile(handle)

    def check() -> None:
        if guard.error is not None:
            raise WriteFailed(path, guard.error)

    try:
        with h5py.File(guard, "w") as out:
            yield out, check
        guard.flush()
    except Exception:
        check()  # the write error, not what HDF5 made of it
        raise
    finally:
        guard.close()
    check()


class _FirstErrorFile:
    """A binary file for h5py: after the first OSError, writes are dropped and reads
    give zeros, so that HDF5 never sees an error; ``error`` holds it."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle, self.error = handle, None
        self.position = self.end = 0  # where a dropped write would be

    def _guarded(self, call: Callable[[], Any], default: Any) -> Any:
        if self.error is None:
            try:
                return call()
            except OSError as err:
                self.error = err
        return default

    def write(self, data) -> int:
        size = memoryview(data).nbytes
        self._guarded(lambda: self.handle.write(data), size)
        self.position += size
        self.end = max(self.end, self.position)
        return size

    def read(self, size: int) -> bytes:
        buffer = bytearray(size)
        return bytes(buffer[: self.readinto(buffer)])

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        if self.error is None:
            count = self._guarded(lambda: self.handle.readinto(view), 0) or 0
        else:
            view[:] = bytes(len(view))
            count = len(view)
        self.position += count
        return count

    def seek(self, offset: int, whence: int = 0) -> int:
        target = offset + (self.end if whence == 2 else self.position if whence == 1 else 0)
        self.position = self._guarded(lambda: self.handle.seek(offset, whence), target)
        self.end = max(self.end, self.position)
        return self.position

    def tell(self) -> int:
        return self.position

    def truncate(self, size: Optional[int] = None) -> int:
        size = self.position if size is None else size
        self._guarded(lambda: self.handle.truncate(size), size)
        self.end = size
        return size

    def flush(self) -> None:
        self._guarded(self.handle.flush, None)

    def close(self) -> None:
        self._guarded(self.handle.close, None)  # the handle is closed even when this fails
