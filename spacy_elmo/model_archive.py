"""ELMoForManyLangs model zips, opened safely: every member checked before anything is
written, extraction into a new folder that is renamed into place once the model in it
loads.

The published zips (NLPL repository, e.g. 144.zip) hold the model folder's files at the
root (config.json, char.dic, word.dic, token_embedder.pkl, encoder.pkl, ...); a zip whose
files sit in a single folder (``zhs.model/...``) is read too.
"""
import re
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Callable, List

from . import efml_format
from .errors import Errors

_DRIVE = re.compile(r"^[A-Za-z]:")
# The published models are 200-400 MB; a zip that would expand past this is refused.
MAX_EXTRACTED_BYTES = 16 * 1024 ** 3


def check_zip(path: Path, what: str) -> None:
    """A readable zip (every member's CRC checked) whose members all stay inside the folder
    they are extracted to: no absolute path, no '..', no link. ValueError otherwise."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            broken = archive.testzip()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as err:
        raise ValueError(Errors.E809.format(what=what, error=err)) from None
    if broken is not None:
        raise ValueError(Errors.E809.format(what=what, error=f"member '{broken}' fails its CRC check"))
    for info in members:
        if not _is_safe(info):
            raise ValueError(Errors.E810.format(what=what, member=info.filename))
    total = sum(info.file_size for info in members)
    if total > MAX_EXTRACTED_BYTES:
        raise ValueError(Errors.E823.format(what=what, size=total, limit=MAX_EXTRACTED_BYTES))


def _is_safe(info: zipfile.ZipInfo) -> bool:
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or _DRIVE.match(name) or ".." in PurePosixPath(name).parts:
        return False
    return not stat.S_ISLNK(info.external_attr >> 16)


def extract_model(archive: Path, model_dir: Path, what: str, check: Callable[[Path], None]) -> None:
    """Extract the checked zip ``archive`` and put its model folder at ``model_dir`` once
    ``check(folder)`` passes; on any failure nothing is left beside ``model_dir``. The
    caller holds the model's lock: work folders left by a killed call are removed."""
    for left in model_dir.parent.glob(f".{model_dir.name}.*.partial"):  # by a killed call
        shutil.rmtree(left, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix=f".{model_dir.name}.", suffix=".partial", dir=model_dir.parent))
    try:
        with zipfile.ZipFile(archive) as handle:
            handle.extractall(work / "files")
        root = _model_root(work / "files", what)
        check(root)
        if model_dir.exists():  # left by a call that stopped before writing its record
            shutil.rmtree(model_dir)
        root.rename(model_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _model_root(folder: Path, what: str) -> Path:
    if efml_format.is_efml_dir(folder):
        return folder
    found: List[Path] = [d for d in folder.iterdir() if d.is_dir() and efml_format.is_efml_dir(d)]
    if len(found) != 1:
        raise ValueError(Errors.E811.format(what=what))
    return found[0]
