"""One file over HTTP(S), resumable and atomic (the transfer under ``download``).

The bytes go to ``TARGET.partial`` beside the target. A transfer that stops midway (the
connection drops, a timeout, Ctrl-C) keeps that file, and the next call asks the server
for the rest (HTTP ``Range``). The target appears only by renaming a complete file that
passed every check: its size against the server's ``Content-Length`` / ``Content-Range``
(and against the published size when known), its SHA-256 when one is expected, and the
caller's check of its content. A file that fails a check is removed, never kept as a
partial download. Standard library only (``urllib``): no dependency beyond Python's own.
"""
import hashlib
import http.client
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Optional, Tuple

from tqdm import tqdm

from .errors import Errors

CHUNK = 1 << 20
TIMEOUT_S = 60.0
USER_AGENT = "spacy-elmo (python urllib)"
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_TOTAL_ONLY = re.compile(r"bytes \*/(\d+)")
Check = Callable[[Path], None]


def partial_path(target: Path) -> Path:
    return target.with_name(target.name + ".partial")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(
    url: str, target: Path, *, size: Optional[int] = None, sha256: Optional[str] = None,
    check: Optional[Check] = None, progress: bool = True, timeout: float = TIMEOUT_S,
) -> str:
    """Download ``url`` to ``target`` (resuming ``target.partial`` when there is one) and
    return the file's SHA-256. ``size``: the published size in bytes, when known;
    ``sha256``: the expected digest; ``check(path)``: raises ValueError when the content
    is not what it should be. Errors: ConnectionError (unreachable, HTTP error status,
    interrupted: the partial file is kept only in this last case), ValueError (a check
    failed: nothing is kept)."""
    partial = partial_path(target)
    offset = partial.stat().st_size if partial.is_file() else 0
    response = _open(url, offset, timeout, partial)
    with response:
        start, total = _span(response, url, offset, partial)
        if size is not None and total is not None and total != size:
            partial.unlink(missing_ok=True)
            raise ValueError(Errors.E805.format(url=url, found=total, expected=size))
        if response.status != 416:  # 416: the partial file already holds it all
            _stream(response, url, partial, start, total, progress)
    return _finish(url, partial, target, total, sha256, check)


def _open(url: str, offset: int, timeout: float, partial: Path):
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # the range starts at the end: maybe complete
            return err
        err.close()
        partial.unlink(missing_ok=True)
        raise ConnectionError(Errors.E803.format(url=url, status=err.code, reason=err.reason)) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", None) or err
        raise ConnectionError(Errors.E802.format(url=url, reason=reason)) from None


def _span(response, url: str, offset: int, partial: Path) -> Tuple[int, Optional[int]]:
    """(the byte the body starts at, the file's total size or None when not announced)."""
    if response.status == 416:
        found = response.headers.get("Content-Range", "")
        match = _TOTAL_ONLY.fullmatch(found.strip())
        if match and int(match[1]) == offset:
            return offset, offset
        partial.unlink(missing_ok=True)
        raise ValueError(Errors.E806.format(url=url, offset=offset, found=found))
    if response.status == 206:
        found = response.headers.get("Content-Range", "")
        match = _CONTENT_RANGE.fullmatch(found.strip())
        if not match or int(match[1]) != offset:
            partial.unlink(missing_ok=True)
            raise ValueError(Errors.E806.format(url=url, offset=offset, found=found))
        return offset, None if match[3] == "*" else int(match[3])
    # 200: the whole file (a server that ignores Range sends it all again: start over)
    length = response.headers.get("Content-Length")
    return 0, int(length) if length and length.isdigit() else None


def _stream(response, url: str, partial: Path, start: int, total: Optional[int], progress: bool) -> None:
    received, reason = start, "the server closed the connection"
    bar = tqdm(total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024,
               desc=url.rsplit("/", 1)[-1], disable=not progress, leave=False)
    with bar, partial.open("ab" if start else "wb") as out:
        try:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        except (OSError, http.client.HTTPException) as err:
            reason = f"{type(err).__name__}: {err}"
        else:
            if total is None or received >= total:
                return
    raise ConnectionError(Errors.E804.format(
        url=url, received=received, total=total if total is not None else "?", reason=reason,
        partial=partial))


def _finish(url: str, partial: Path, target: Path, total: Optional[int], sha256: Optional[str],
            check: Optional[Check]) -> str:
    try:
        size = partial.stat().st_size
        if total is not None and size != total:
            raise ValueError(Errors.E807.format(url=url, found=size, expected=total))
        digest = file_sha256(partial)
        if sha256 is not None and digest != sha256:
            raise ValueError(Errors.E808.format(what=url, found=digest, expected=sha256))
        if check is not None:
            check(partial)
    except Exception:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)
    return digest
