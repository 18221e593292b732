"""From the original files (options.json + weights.hdf5) or an ELMoForManyLangs model
folder to spaCy pipelines. Finding and loading weights: ``model_files`` and
``pipeline_files``; the model block of the config: ``model_config``."""
from pathlib import Path
from typing import Optional

import spacy

from . import efml_format
from .elmo_format import read_options
from .errors import Errors
from .model_config import model_config_from_options
from .model_files import PathLike
from .nn import ElmoOptions
from .pipeline_files import FACTORY

__all__ = ["convert_efml_to_pipeline", "convert_to_pipeline"]


def convert_to_pipeline(
    options_file: PathLike, weight_file: PathLike, output_dir: PathLike, lang: str = "en",
    segmenter: Optional[str] = None,
) -> Path:
    """Write a spaCy pipeline (blank ``lang`` + the elmo component) holding these weights.

    The pipeline keeps the weights in its own files: it loads with ``spacy.load`` after
    the original files are gone. ``segmenter``: for lang "zh", spaCy's Chinese word
    segmenter ("char", "jieba" or "pkuseg"); None: spaCy's default. Returns ``output_dir``.
    """
    options_file, weight_file = Path(options_file), Path(weight_file)
    options = read_options(options_file)
    if not weight_file.is_file():
        raise FileNotFoundError(Errors.E004.format(path=weight_file))
    description = f"ELMo biLM converted from {options_file.name} + {weight_file.name}"
    return _write_pipeline(options, weight_file, output_dir, lang, segmenter, description)


def convert_efml_to_pipeline(
    model_dir: PathLike, output_dir: PathLike, lang: str = "en", segmenter: Optional[str] = None,
) -> Path:
    """As ``convert_to_pipeline``, from an ELMoForManyLangs model folder: the pipeline
    holds the vocabularies and weights, and needs none of the folder's files later."""
    model_dir = Path(model_dir)
    options, _, _ = efml_format.read_options(model_dir)
    description = f"ELMoForManyLangs biLM converted from {model_dir.name}"
    return _write_pipeline(options, model_dir, output_dir, lang, segmenter, description)


def _write_pipeline(
    options: ElmoOptions, weights: Path, output_dir: PathLike, lang: str,
    segmenter: Optional[str], description: str,
) -> Path:
    output_dir = Path(output_dir)
    if segmenter is not None and lang != "zh":
        raise ValueError(Errors.E625.format(lang=lang))
    config = {"nlp": {"tokenizer": {"segmenter": segmenter}}} if segmenter else {}
    nlp = spacy.blank(lang, config=config)
    # set_doc_vectors: doc/token/span .vector and .similarity use ELMo out of the box.
    nlp.add_pipe(FACTORY, config={"model": model_config_from_options(options), "set_doc_vectors": True})
    init_components = nlp.config["initialize"]["components"]
    init_components[FACTORY] = {"weights": str(weights)}
    nlp.initialize()
    # The saved config must not point at files that may be deleted.
    del init_components[FACTORY]
    nlp.meta["name"] = "elmo"
    nlp.meta["description"] = description
    output_dir.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(output_dir)
    return output_dir
