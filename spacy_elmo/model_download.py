"""``spacy_elmo.download(NAME)``: a published biLM by name (or URL, or local path),
fetched into the cache, checked, and converted into a spaCy pipeline.

Cache (``SPACY_ELMO_CACHE``, default ``spacy-elmo`` in the user's cache folder, e.g.
~/.cache/spacy-elmo), one folder per model:

- ``options.json`` + ``weights.hdf5``: an original-format model as fetched;
- ``model/``: an ELMoForManyLangs model, extracted from its zip (the zip is removed);
- ``download.json``: written last, what was fetched from where and its SHA-256: a folder
  without it is an unfinished download, never taken for a model;
- ``pipeline-LANG/``: the converted pipeline (the default OUTPUT_DIR).

Every file appears by renaming a checked one (``fetch``); ``NAME.lock`` beside the folder
keeps two processes from working on the same model. Conversion is ``convert``'s own code.
"""
import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import h5py
import spacy
import srsly

from . import efml_format
from .convert import convert_efml_to_pipeline, convert_to_pipeline
from .elmo_format import load_allennlp, read_options
from .errors import Errors
from .fetch import fetch, file_sha256
from .model_archive import extract_model, check_zip
from .languages import check_lang, check_segmenter
from .model_cache import cache_dir
from .model_files import OPTIONS_NAME, WEIGHTS_NAME
from .output_file import exclusive_lock
from .published_models import KIND_EFML, KIND_ELMO, PUBLISHED_MODELS, PublishedModel

PathLike = Union[str, Path]
RECORD_NAME = "download.json"
MODEL_DIR = "model"


@dataclass(frozen=True)
class Source:
    """What NAME resolved to: URLs to fetch (``urls``) or a model on disk (``local``)."""

    key: str  # the cache folder's name
    kind: str  # KIND_ELMO or KIND_EFML
    urls: Tuple[str, ...] = ()
    local: Optional[Path] = None
    lang: str = "en"
    license: str = ""
    source: str = ""
    size: Optional[int] = None
    description: str = ""


def resolve(name: str, base_url: Optional[str] = None) -> Source:
    """A published model's name, an http(s) URL or a local path -> what to fetch or read."""
    if base_url is not None and not base_url.startswith(("http://", "https://")):
        raise ValueError(Errors.E813.format(value=base_url))
    if name in PUBLISHED_MODELS:
        return _published(PUBLISHED_MODELS[name], base_url)
    if base_url is not None:
        raise ValueError(Errors.E814.format(name=name))
    if name.startswith(("http://", "https://")):
        return _from_url(name)
    if Path(name).exists():
        return _from_path(Path(name))
    raise ValueError(Errors.E800.format(name=name))


def _published(model: PublishedModel, base_url: Optional[str]) -> Source:
    return Source(model.name, model.kind, model.urls(base_url), lang=model.lang,
                  license=model.license, source=model.source, size=model.size,
                  description=model.description)


def _key(text: str, stem: str) -> str:
    return f"{stem}-{hashlib.sha256(text.encode('utf8')).hexdigest()[:10]}"


def _from_url(url: str) -> Source:
    base, _, file_name = url.rpartition("/")
    if file_name.endswith(".zip"):
        return Source(_key(url, file_name[:-4]), KIND_EFML, (url,), lang="xx", source=url)
    for mine, other in (("options.json", "weights.hdf5"), ("weights.hdf5", "options.json")):
        if file_name.endswith(mine) and base:
            sibling = f"{base}/{file_name[: -len(mine)]}{other}"
            urls = (url, sibling) if mine == "options.json" else (sibling, url)
            stem = urls[1].rsplit("/", 1)[-1][: -len("weights.hdf5")].strip("_-.") or "model"
            return Source(_key(urls[1], stem), KIND_ELMO, urls, source=urls[1])
    raise ValueError(Errors.E801.format(url=url))


def _from_path(path: Path) -> Source:
    path = path.resolve()
    key = _key(str(path), path.stem or "model")
    if path.is_dir() and (path / OPTIONS_NAME).is_file() and (path / WEIGHTS_NAME).is_file():
        return Source(key, KIND_ELMO, local=path, source=str(path))
    if efml_format.is_efml_dir(path):
        return Source(key, KIND_EFML, local=path, lang="xx", source=str(path))
    if path.is_file() and path.suffix == ".zip":
        return Source(key, KIND_EFML, local=path, lang="xx", source=str(path))
    raise ValueError(Errors.E819.format(path=path))


def download(
    name: str, output_dir: Optional[PathLike] = None, *, base_url: Optional[str] = None,
    sha256: Optional[str] = None, convert: bool = True, lang: Optional[str] = None,
    segmenter: Optional[str] = None, progress: bool = True,
) -> Path:
    """Fetch a published biLM (``python -m spacy_elmo download --list``), an http(s) URL
    or a local model into the cache, check it and convert it to a spaCy pipeline.

    name: "small", "original-5.5b", "efml-de", ...; a URL of an options.json /
        weights.hdf5 / ELMoForManyLangs .zip; or a local folder or .zip.
    output_dir: where the pipeline goes (a new or empty folder); default: in the cache.
    base_url: a mirror holding the published files under the same relative paths.
    sha256: the expected SHA-256 of the weights file (of the .zip for ELMoForManyLangs).
    convert: False keeps the raw files only and returns their folder.
    lang, segmenter: the pipeline's spaCy language (default: the model's) and, for "zh",
        its word segmenter.
    Returns the path to give ``spacy.load`` (or the raw files' folder)."""
    source = resolve(name, base_url)
    sha256 = _check_sha256(sha256)
    if not convert and output_dir is not None:
        raise ValueError(Errors.E818.format(path=cache_dir() / source.key))
    if convert:  # refused before anything is fetched
        lang = lang or source.lang
        _check_lang(lang, segmenter)
        if output_dir is not None:
            _check_output(Path(output_dir))
    folder = cache_dir() / source.key
    _make_folder(folder.parent)
    with exclusive_lock(folder):
        try:
            record = _ensure_files(source, folder, sha256, progress)
        except BaseException:
            _remove_if_empty(folder)
            raise
        raw = _raw_model(source, folder)
        if not convert:
            return raw
        assert lang is not None
        default = folder / (f"pipeline-{lang}" + (f"-{segmenter}" if segmenter else ""))
        output = Path(output_dir) if output_dir is not None else default
        if output_dir is None and (output / "meta.json").is_file():
            return output  # converted by an earlier call
        _convert(source.kind, raw, output, lang, segmenter, source.license, _meta(name, source, record))
    return output


def _check_sha256(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    value = value.strip().lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise ValueError(Errors.E812.format(value=value))
    return value


def _make_folder(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OSError(Errors.E820.format(path=path, error=err.strerror or err)) from None


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()  # only ever succeeds on an empty folder
    except OSError:
        pass


def _raw_model(source: Source, folder: Path) -> Path:
    if source.local is not None and source.local.is_dir():
        return source.local
    return folder / MODEL_DIR if source.kind == KIND_EFML else folder


def _ensure_files(source: Source, folder: Path, sha256: Optional[str], progress: bool) -> Dict[str, Any]:
    """The model's files in place and checked; returns the download record."""
    record_path = folder / RECORD_NAME
    if record_path.is_file():
        record = srsly.read_json(record_path)
        main = record["files"][-1]
        if sha256 is not None and main["sha256"] != sha256:
            raise ValueError(Errors.E808.format(what=folder / main["file"], found=main["sha256"],
                                                expected=sha256))
        return record
    if source.local is not None and source.local.is_dir():
        return _local_record(source, sha256)
    _make_folder(folder)
    if source.kind == KIND_ELMO:
        files = _fetch_original(source, folder, sha256, progress)
    else:
        files = _fetch_efml(source, folder, sha256, progress)
    record = {"source": source.source, "license": source.license, "kind": source.kind, "files": files}
    tmp = folder / f".{RECORD_NAME}.partial"
    srsly.write_json(tmp, record)
    tmp.replace(record_path)
    return record


def _local_record(source: Source, sha256: Optional[str]) -> Dict[str, Any]:
    """A model folder on disk is read where it is: its weights' SHA-256 goes in the meta."""
    assert source.local is not None
    main = source.local / (WEIGHTS_NAME if source.kind == KIND_ELMO else efml_format.ENCODER)
    digest = file_sha256(main)
    if sha256 is not None and digest != sha256:
        raise ValueError(Errors.E808.format(what=main, found=digest, expected=sha256))
    entry = {"url": str(main), "file": main.name, "sha256": digest, "size": main.stat().st_size}
    return {"source": source.source, "license": "", "kind": source.kind, "files": [entry]}


def _fetch_original(source: Source, folder: Path, sha256: Optional[str], progress: bool) -> List[Dict]:
    options_url, weights_url = source.urls
    options, weights = folder / OPTIONS_NAME, folder / WEIGHTS_NAME

    def check_options(path: Path) -> None:
        _reraise(lambda: read_options(path), options_url, "options.json file")

    def check_weights(path: Path) -> None:
        _reraise(lambda: h5py.File(path, "r").close(), weights_url, "HDF5 file")
        # shapes against the options: the loader names any dataset that does not fit
        _reraise(lambda: load_allennlp(options, path), weights_url, "weights file for its options")

    return [
        _get(options_url, options, None, None, check_options, progress),
        _get(weights_url, weights, source.size, sha256, check_weights, progress),
    ]


def _fetch_efml(source: Source, folder: Path, sha256: Optional[str], progress: bool) -> List[Dict]:
    if source.local is not None:  # a local zip: checked and extracted, not copied
        url = str(source.local)
        entry = _entry(url, source.local, file_sha256(source.local))
        if sha256 is not None and entry["sha256"] != sha256:
            raise ValueError(Errors.E808.format(what=url, found=entry["sha256"], expected=sha256))
        check_zip(source.local, url)
        extract_model(source.local, folder / MODEL_DIR, url, _check_efml(url))
        return [entry]
    url = source.urls[0]
    archive = folder / url.rsplit("/", 1)[-1]
    entry = _get(url, archive, source.size, sha256, lambda p: check_zip(p, url), progress)
    try:
        extract_model(archive, folder / MODEL_DIR, url, _check_efml(url))
    finally:
        archive.unlink(missing_ok=True)  # its SHA-256 is in the record; the folder is the model
    return [entry]


def _check_efml(url: str):
    def check(model_dir: Path) -> None:
        _reraise(lambda: efml_format.load_elmoformanylangs(model_dir), url, "ELMoForManyLangs model")
    return check


def _get(url: str, target: Path, size: Optional[int], sha256: Optional[str], check, progress: bool) -> Dict:
    """One file: fetched, or already here from an earlier, interrupted call."""
    if target.is_file():
        digest = file_sha256(target)
        if sha256 is not None and digest != sha256:
            raise ValueError(Errors.E808.format(what=target, found=digest, expected=sha256))
    else:
        digest = fetch(url, target, size=size, sha256=sha256, check=check, progress=progress)
    return _entry(url, target, digest)


def _entry(url: str, path: Path, digest: str) -> Dict[str, Any]:
    return {"url": url, "file": path.name, "sha256": digest, "size": path.stat().st_size}


def _reraise(load, what: str, expected: str) -> None:
    try:
        load()
    except (ValueError, OSError, KeyError) as err:
        raise ValueError(Errors.E816.format(what=what, expected=expected, error=err)) from None


def _meta(name: str, source: Source, record: Dict[str, Any]) -> Dict[str, Any]:
    """The pipeline's meta: where each file came from, its license and SHA-256."""
    license = {"license": record["license"]} if record.get("license") else {}
    sources = [{"name": f"{name}: {entry['file']}", "url": entry["url"], **license,
                "sha256": entry["sha256"]} for entry in record["files"]]
    what = f"{source.description} ('{name}')" if source.description else f"biLM from {name}"
    return {"description": f"ELMo: {what}, as a spaCy pipeline by spacy-elmo download",
            "sources": sources}


def _convert(kind: str, raw: Path, output: Path, lang: str, segmenter: Optional[str],
             license: str, meta: Dict[str, Any]) -> None:
    """``convert``'s own functions (they write into a temporary folder, renamed when complete)."""
    _check_output(output)
    settings = dict(lang=lang, segmenter=segmenter, license=license or None, meta=meta)
    if kind == KIND_ELMO:
        convert_to_pipeline(raw / OPTIONS_NAME, raw / WEIGHTS_NAME, output, **settings)
    else:
        convert_efml_to_pipeline(raw, output, **settings)


def _check_output(output: Path) -> None:
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise ValueError(Errors.E817.format(path=output))


@functools.lru_cache(maxsize=None)
def _check_lang(lang: str, segmenter: Optional[str]) -> None:
    """The pipeline's language and segmenter can be built (checked before downloading)."""
    check_lang(lang)  # E425, as convert, pretrain and vocab say it
    check_segmenter(segmenter, lang)
    config = {"nlp": {"tokenizer": {"segmenter": segmenter}}} if segmenter else {}
    try:  # some tokenizers need a package of their own (ja: SudachiPy, zh jieba: jieba, ...)
        spacy.blank(lang, config=config)
    except ImportError as err:
        raise ValueError(Errors.E815.format(lang=lang, error=str(err).splitlines()[0])) from None
