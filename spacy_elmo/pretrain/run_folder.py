"""A run's output folder: one writer at a time, and only a run's own files deleted.

- ``run_lock``: the process that trains holds ``OUTPUT_DIR/pretrain.lock`` (flock, as
  ``output_file.py`` locks a command's output): a second ``pretrain`` into the folder,
  with or without --resume / --force, is refused (E334). The kernel releases the lock of
  a killed process, so the next run takes it over, and removes the temporary files
  (``.NAME.tmpPID``, ``.final.tmpPID/``, ``.final.oldPID/``) a killed run left.
- ``clear_run`` (--force) deletes only the files a run writes (the names below), and
  only in a folder whose config.cfg is a pretraining config (E332); a checkpoints/ or
  final/ holding anything else is refused (E333) before anything is deleted.
- ``check_run_inputs``: no input of the run lies among its outputs (E335), and the
  output folder is not inside an input folder (E509: the run's files would be read as
  training text).
"""
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Tuple

from confection import Config

from .. import efml_format
from ..errors import Errors
from ..output_file import atomic_write, check_not_input, file_lock, is_inside, remove, write_errors
from .checkpoint import (
    CHECKPOINTS, CONFIG_FILE, FINAL, LATEST, LOG_FILE, STEP_FILE, VOCAB_FILE, existing_run)
from .config import RESUMABLE, PretrainSettings, run_differences
from .corpus import SOTU_PREFIX

LOCK_FILE = "pretrain.lock"
TOP_FILES = (CONFIG_FILE, VOCAB_FILE, LOG_FILE)
FINAL_FILES = ("options.json", "weights.hdf5", "lm_head.pt", VOCAB_FILE, CONFIG_FILE,
               *efml_format.MODEL_FILES)  # an ELMoForManyLangs biLM's export
PIPELINE, PIPELINE_FILES = "pipeline", ("config.cfg", "meta.json", "tokenizer")
PIPELINE_FOLDERS = ("vocab", "elmo")  # spaCy's own serialization of the vocab and the component
TMP_FILE = re.compile(r"\.(?P<name>.+)\.tmp\d+")  # output_file.atomic_write's temporary files
EXPORT_TMP = re.compile(r"\.final\.(tmp|old)\d+|final\.tmp")  # export.py's temporary folders
SECTIONS = {"paths", "corpus", "model", "training"}


@contextmanager
def run_lock(output_dir: Path) -> Iterator[None]:
    """Hold the run folder's lock (creating the folder; removed again if left empty)."""
    created = not output_dir.exists()
    if output_dir.exists() and not output_dir.is_dir():
        raise ValueError(Errors.E336.format(path=output_dir))
    with write_errors(output_dir):
        output_dir.mkdir(parents=True, exist_ok=True)
    lock = output_dir / LOCK_FILE
    busy = lambda holder: Errors.E334.format(path=output_dir, holder=holder, lock=lock)
    try:
        with file_lock(lock, busy):
            remove_stale(output_dir)
            yield
    finally:
        if created and output_dir.is_dir() and not any(output_dir.iterdir()):
            output_dir.rmdir()


def remove_stale(output_dir: Path) -> None:
    """Delete the temporary files of killed runs (we hold the lock: none is being written)."""
    for path in run_files(output_dir)[0]:
        top = path.relative_to(output_dir).parts[0]
        if TMP_FILE.fullmatch(path.name) or EXPORT_TMP.fullmatch(top):
            remove(path)
    _remove_empty_folders(output_dir)


def clear_run(output_dir: Path) -> None:
    """Delete a previous run's files (--force), after checking the folder holds a run
    and nothing else in its checkpoints/ and final/."""
    check_is_run(output_dir)
    check_only_run_files(output_dir)
    remove_run_files(output_dir)


def check_only_run_files(output_dir: Path) -> None:
    """E333 if checkpoints/ or final/ hold anything a run does not write."""
    foreign = run_files(output_dir)[1]
    if foreign:
        names = ", ".join(str(p.relative_to(output_dir)) for p in foreign[:5])
        more = f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
        raise ValueError(Errors.E333.format(path=output_dir, files=names + more))


def remove_run_files(output_dir: Path) -> None:
    """Delete the files a run writes (a new run that failed before its first
    checkpoint); anything else stays."""
    for path in run_files(output_dir)[0]:
        remove(path)
    _remove_empty_folders(output_dir)


def check_is_run(output_dir: Path) -> None:
    """E332 unless ``output_dir/config.cfg`` is a pretraining config."""
    path = output_dir / CONFIG_FILE
    if not path.is_file() or path.is_symlink():
        raise ValueError(Errors.E332.format(path=output_dir, reason=f"no {CONFIG_FILE}"))
    try:
        sections = set(Config().from_disk(path, interpolate=False))
    except Exception:  # any parse error: not a config we wrote
        sections = set()
    if not sections or not sections <= SECTIONS:
        reason = f"its {CONFIG_FILE} is not a pretraining config"
        raise ValueError(Errors.E332.format(path=output_dir, reason=reason))


def run_files(output_dir: Path) -> Tuple[List[Path], List[Path]]:
    """(the files and links a run writes, anything else) in the run's places: the top
    level's run files, checkpoints/, final/ and the export's temporary folders."""
    ours: List[Path] = []
    foreign: List[Path] = []
    if not output_dir.is_dir():
        return ours, foreign
    for entry in sorted(output_dir.iterdir()):
        name = entry.name
        if name in TOP_FILES or _tmp_of(name, TOP_FILES):
            ours.append(entry)
        elif name == CHECKPOINTS:
            _walk(entry, _is_checkpoint_file, ours, foreign)
        elif name == FINAL or EXPORT_TMP.fullmatch(name):
            _walk(entry, _is_final_file, ours, foreign)
    return ours, foreign


def _walk(folder: Path, known, ours: List[Path], foreign: List[Path]) -> None:
    """Sort the files below ``folder`` (links not followed) by ``known(relative parts)``."""
    if folder.is_symlink() or not folder.is_dir():
        foreign.append(folder)
        return
    for root, dirs, files in os.walk(folder):
        links = [d for d in dirs if os.path.islink(os.path.join(root, d))]
        for name in sorted(files + links):
            path = Path(root) / name
            (ours if known(path.relative_to(folder).parts) else foreign).append(path)


def _is_checkpoint_file(parts: Tuple[str, ...]) -> bool:
    tmp = TMP_FILE.fullmatch(parts[0])
    name = tmp["name"] if tmp else parts[0]
    return len(parts) == 1 and (name == LATEST or bool(STEP_FILE.fullmatch(name)))


def _is_final_file(parts: Tuple[str, ...]) -> bool:
    if len(parts) == 1:
        return parts[0] in FINAL_FILES
    if parts[0] != PIPELINE:
        return False
    return (len(parts) == 2 and parts[1] in PIPELINE_FILES) or (
        len(parts) > 2 and parts[1] in PIPELINE_FOLDERS)


def _tmp_of(name: str, names: Tuple[str, ...]) -> bool:
    match = TMP_FILE.fullmatch(name)
    return bool(match and match["name"] in names)


def _remove_empty_folders(output_dir: Path) -> None:
    """Remove the run's folders left empty (bottom up); a folder with other files stays."""
    for entry in output_dir.iterdir():
        if entry.is_dir() and not entry.is_symlink() and (
                entry.name in (CHECKPOINTS, FINAL) or EXPORT_TMP.fullmatch(entry.name)):
            for root, _, _ in os.walk(entry, topdown=False):
                try:
                    os.rmdir(root)
                except OSError:  # not empty: it holds files that are not ours
                    pass


def prepare_output(
    output_dir: Path, settings: PretrainSettings, resume: bool, force: bool
) -> bool:
    """Refuse a directory holding another run unless --resume/--force; write config.cfg.
    Returns whether training resumes."""
    found = existing_run(output_dir)
    if found and not (resume or force):
        raise ValueError(Errors.E310.format(path=output_dir, found=", ".join(found)))
    if found and resume:
        if not (output_dir / CONFIG_FILE).exists():
            raise ValueError(Errors.E323.format(path=output_dir))
        check_only_run_files(output_dir)  # the export will replace final/
        saved = Config().from_disk(output_dir / CONFIG_FILE, interpolate=False)
        differences = run_differences(saved, settings.config)
        if differences and not force:
            raise ValueError(Errors.E311.format(
                path=output_dir, keys=", ".join(differences), allowed=", ".join(RESUMABLE)))
        resume = not differences
    if found and not resume:
        clear_run(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(output_dir / CONFIG_FILE, settings.config.to_disk)
    return bool(found) and resume


def check_run_inputs(settings: PretrainSettings, output_dir: Path) -> None:
    """No input is a file the run writes (E335); the output folder is not inside an
    input folder, where its files would be read as text (E509)."""
    paths = settings.paths
    inputs = [(key, getattr(paths, key)) for key in ("train", "dev", "vocab", "init_bilm")]
    for key, spec in inputs:
        if not spec or str(spec).startswith(SOTU_PREFIX):
            continue
        source = Path(spec)
        check_not_input(output_dir, [source] if source.is_dir() else [])
        for name in (*TOP_FILES, CHECKPOINTS, FINAL):
            if source.exists() and is_inside(source, output_dir / name):
                raise ValueError(Errors.E335.format(
                    key=key, path=source, output=output_dir, name=name))
