"""Finding and loading biLM weights: options.json + weights.hdf5 (also under a
pretraining run's final/), an ELMoForManyLangs model folder, or a spaCy pipeline."""
from pathlib import Path
from typing import List, Optional, Tuple, Union

import spacy
from spacy.util import load_config

from . import efml_format
from .elmo_format import load_allennlp, load_weights, read_options
from .errors import Errors
from .layers import get_bilm
from .nn import BiLM, ElmoOptions

PathLike = Union[str, Path]
OPTIONS_NAME = "options.json"
WEIGHTS_NAME = "weights.hdf5"
FACTORY = "elmo"
# Settings compared between a weights source and a model config (n_characters is not:
# 261 and 262 describe the same weights).
_COMPARED = ("lstm_dim", "projection_dim", "n_layers", "cell_clip", "proj_clip",
             "use_skip_connections", "char_dim", "filters", "n_highway",
             "max_characters_per_token", "activation", "token_encoder", "embedding_rows",
             "word_dim", "word_rows")


def bilm_from_directory(path: PathLike) -> BiLM:
    """The biLM (eval mode) in a directory: options.json + weights.hdf5 (directly or under
    final/, as pretraining writes it), an ELMoForManyLangs model folder, or a spaCy
    pipeline with an elmo component."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(Errors.E105.format(path=path))
    files = _original_files(path)
    if files is not None:
        return load_allennlp(*files)
    if efml_format.is_efml_dir(path):
        return efml_format.load_elmoformanylangs(path)
    if (path / "config.cfg").is_file():
        return _bilm_from_pipeline(path).eval()
    raise ValueError(Errors.E106.format(path=path))


def init_bilm_from(bilm: BiLM, path: PathLike, name: str = FACTORY) -> BiLM:
    """Load weights into ``bilm`` (built from the model config) from ``path``: an original
    weights.hdf5 file, or any directory ``bilm_from_directory`` reads (an ELMoForManyLangs
    folder included: its vocabularies come along in the state dict). Options found
    there must match ``bilm.options``; errors name the file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(Errors.E105.format(path=path))
    if path.is_file():
        return load_weights(bilm, path)
    files = _original_files(path)
    if files is not None:
        check_options(read_options(files[0]), bilm.options, files[0], name)
        return load_weights(bilm, files[1])
    source = bilm_from_directory(path)
    check_options(source.options, bilm.options, path, name)
    bilm.load_state_dict(source.state_dict())
    return bilm


def option_differences(found: ElmoOptions, expected: ElmoOptions) -> List[str]:
    """The settings (of those that shape the weights) where ``found`` differs from ``expected``."""
    return [key for key in _COMPARED if getattr(found, key) != getattr(expected, key)]


def check_options(found: ElmoOptions, expected: ElmoOptions, path: PathLike, name: str) -> None:
    diffs = [
        f"{key} is {getattr(found, key)!r} there, {getattr(expected, key)!r} in the config"
        for key in option_differences(found, expected)
    ]
    if diffs:
        raise ValueError(Errors.E107.format(path=path, name=name, diffs="; ".join(diffs)))


def _original_files(path: Path) -> Optional[Tuple[Path, Path]]:
    for folder in (path, path / "final"):
        if (folder / OPTIONS_NAME).is_file() and (folder / WEIGHTS_NAME).is_file():
            return folder / OPTIONS_NAME, folder / WEIGHTS_NAME
    return None


def _bilm_from_pipeline(path: Path) -> BiLM:
    config = load_config(path / "config.cfg", interpolate=False)
    components = config.get("components", {})
    names = [n for n, block in components.items() if block.get("factory") == FACTORY]
    if not names:
        raise ValueError(Errors.E110.format(path=path))
    others = [n for n in config["nlp"].get("pipeline", []) if n != names[0]]
    nlp = spacy.load(path, exclude=others)
    return get_bilm(nlp.get_pipe(names[0]).model)
