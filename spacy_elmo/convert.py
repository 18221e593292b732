"""From the original files (options.json + weights.hdf5) or an ELMoForManyLangs model
folder to spaCy pipelines. Finding and loading weights: ``model_files`` and
``pipeline_files``; the model block of the config: ``model_config``; writing the folder
(never half-replaced, never over an input): ``output_folder``."""
import json
import warnings
from pathlib import Path
from typing import Any, Dict, Optional

import spacy
from spacy.language import Language

from . import __version__, efml_format
from .elmo_format import read_options
from .errors import Errors, Warnings
from .languages import check_lang, check_segmenter
from .model_config import model_config_from_options
from .model_files import OPTIONS_NAME, PathLike
from .nn import ElmoOptions
from .output_folder import atomic_folder, check_output_folder
from .pipeline_files import FACTORY

__all__ = ["convert_efml_to_pipeline", "convert_to_pipeline"]
# What the pipeline needs installed: `spacy package` writes it into the package's setup.
REQUIREMENT = f"spacy-elmo>={__version__}"
INSTALL_NOTE = (
    "It needs the spacy-elmo package (the 'elmo' component): install spacy-elmo first "
    "(pip install spacy-elmo, or pip install -e from its repository), then spacy.load it."
)


def convert_to_pipeline(
    options_file: PathLike, weight_file: PathLike, output_dir: PathLike, lang: str = "en",
    segmenter: Optional[str] = None, *, force: bool = False, license: Optional[str] = None,
    source: Optional[str] = None, meta: Optional[Dict[str, Any]] = None,
) -> Path:
    """Write a spaCy pipeline (blank ``lang`` + the elmo component) holding these weights.

    The pipeline keeps the weights in its own files: it loads with ``spacy.load`` after
    the original files are gone. ``segmenter``: for lang "zh", spaCy's Chinese word
    segmenter ("char", "jieba" or "pkuseg"); None: spaCy's default. An existing
    non-empty ``output_dir`` is replaced only with ``force`` (and only a pipeline).
    ``license`` / ``source``: the biLM's, written into meta.json; ``meta``: more meta
    entries (e.g. a download's checksum). Returns ``output_dir``.
    """
    options_file, weight_file = Path(options_file), Path(weight_file)
    if options_file.is_dir() and efml_format.is_efml_dir(options_file):
        raise ValueError(Errors.E428.format(path=options_file))
    options = read_options(options_file)
    if not weight_file.is_file():
        raise FileNotFoundError(Errors.E004.format(path=weight_file))
    description = f"ELMo biLM converted from {options_file.name} + {weight_file.name}"
    meta = {**_source_meta(license, source), **(meta or {})}
    return _write_pipeline(options, weight_file, Path(output_dir), lang, segmenter, description,
                           force, meta, inputs=(options_file, weight_file))


def convert_efml_to_pipeline(
    model_dir: PathLike, output_dir: PathLike, lang: str = "en", segmenter: Optional[str] = None,
    *, force: bool = False, license: Optional[str] = None, source: Optional[str] = None,
    meta: Optional[Dict[str, Any]] = None,
) -> Path:
    """As ``convert_to_pipeline``, from an ELMoForManyLangs model folder: the pipeline
    holds the vocabularies and weights, and needs none of the folder's files later.
    ``license`` / ``source`` default to the "license" / "source" fields of the folder's
    config.json when it has them."""
    model_dir = Path(model_dir)
    if (model_dir / OPTIONS_NAME).is_file() and not efml_format.is_efml_dir(model_dir):
        raise ValueError(Errors.E427.format(path=model_dir, options=OPTIONS_NAME))
    options, _, words = efml_format.read_options(model_dir)
    found = _efml_source(model_dir)
    description = f"ELMoForManyLangs biLM converted from {model_dir.name}"
    meta = {**_source_meta(license or found.get("license"), source or found.get("source")),
            **(meta or {})}
    if segmenter in (None, "char") and (lang == "zh" or _mostly_chinese(words)):
        warnings.warn(Warnings.W113.format(path=model_dir, lang=lang))
    return _write_pipeline(options, model_dir, Path(output_dir), lang, segmenter, description,
                           force, meta, inputs=(model_dir,))


def _write_pipeline(
    options: ElmoOptions, weights: Path, output_dir: Path, lang: str, segmenter: Optional[str],
    description: str, force: bool, meta: Dict[str, Any], inputs,
) -> Path:
    check_lang(lang)
    check_segmenter(segmenter, lang)

    def check() -> None:
        check_output_folder(output_dir, inputs, force)

    check()  # before the weights are read; again under the lock
    nlp = _build_pipeline(options, weights, lang, segmenter)
    meta = {"name": "elmo", "description": description, "requirements": [REQUIREMENT], **meta}
    meta["description"] = f"{meta['description']}. {INSTALL_NOTE}"
    nlp.meta.update(meta)
    with atomic_folder(output_dir, check) as tmp:
        nlp.to_disk(tmp)
    return output_dir


def _build_pipeline(options: ElmoOptions, weights: Path, lang: str, segmenter: Optional[str]) -> Language:
    config = {"nlp": {"tokenizer": {"segmenter": segmenter}}} if segmenter else {}
    try:
        nlp = spacy.blank(lang, config=config)
    except ImportError as err:  # jieba / spacy-pkuseg not installed
        raise ValueError(Errors.E429.format(segmenter=segmenter, error=err)) from None
    # set_doc_vectors: doc/token/span .vector and .similarity use ELMo out of the box.
    nlp.add_pipe(FACTORY, config={"model": model_config_from_options(options), "set_doc_vectors": True})
    init_components = nlp.config["initialize"]["components"]
    init_components[FACTORY] = {"weights": str(weights)}
    nlp.initialize()
    # The saved config must not point at files that may be deleted.
    del init_components[FACTORY]
    return nlp


def _source_meta(license: Optional[str], source: Optional[str]) -> Dict[str, Any]:
    """meta.json entries for the biLM's license and source (spaCy's "license" and
    "sources", which `spacy package` puts in the package README)."""
    meta: Dict[str, Any] = {}
    if license:
        meta["license"] = license
    if source:
        entry = {"name": source}
        if source.startswith(("http://", "https://")):
            entry["url"] = source
        if license:
            entry["license"] = license
        meta["sources"] = [entry]
    return meta


def _efml_source(model_dir: Path) -> Dict[str, str]:
    """"license" and "source" of an ELMoForManyLangs config.json, when it has them."""
    try:
        config = json.loads((model_dir / efml_format.CONFIG_NAME).read_text(encoding="utf8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(config, dict):
        return {}
    return {key: config[key] for key in ("license", "source") if isinstance(config.get(key), str)}


def _mostly_chinese(words) -> bool:
    """Whether most entries of a word vocabulary are CJK ideographs (a Chinese model)."""
    han = sum(1 for w in words if w and all("\u4e00" <= ch <= "\u9fff" for ch in w))
    return bool(words) and han * 2 > len(words)
