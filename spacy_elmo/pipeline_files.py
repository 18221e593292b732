"""Finding and loading biLM weights in any folder: model files (``model_files``) or a
spaCy pipeline with an elmo component, read here, in the spaCy layer."""
from pathlib import Path
from typing import Tuple

import spacy
from spacy.language import Language
from spacy.util import load_config

from .errors import Errors
from .layers import get_bilm
from .model_files import PathLike, check_options, load_original_weights, original_files, read_model_files
from .nn import BiLM

FACTORY = "elmo"


def bilm_from_directory(path: PathLike) -> BiLM:
    """The biLM (eval mode) in a directory: options.json + weights.hdf5 (directly or under
    final/, as pretraining writes it), an ELMoForManyLangs model folder, or a spaCy
    pipeline with an elmo component."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(Errors.E105.format(path=path))
    bilm = read_model_files(path)
    if bilm is None and (path / "config.cfg").is_file():
        bilm = bilm_from_pipeline(path).eval()
    if bilm is None:
        raise ValueError(Errors.E106.format(path=path))
    return bilm


def init_bilm_from(bilm: BiLM, path: PathLike, name: str = FACTORY) -> BiLM:
    """Load weights into ``bilm`` (built from the model config) from ``path``: an original
    weights.hdf5 file, or any directory ``bilm_from_directory`` reads (an ELMoForManyLangs
    folder included: its vocabularies come along in the state dict). Options found
    there must match ``bilm.options``; errors name the file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(Errors.E105.format(path=path))
    if path.is_file() or original_files(path) is not None:
        return load_original_weights(bilm, path, name)
    source = bilm_from_directory(path)
    check_options(source.options, bilm.options, path, name)
    bilm.load_state_dict(source.state_dict())
    return bilm


def bilm_from_pipeline(path: Path) -> BiLM:
    """The biLM of the elmo component of the pipeline in ``path`` (loaded without the
    other components)."""
    nlp, name = elmo_pipeline(path)
    return get_bilm(nlp.get_pipe(name).model)


def elmo_pipeline(path: Path) -> Tuple[Language, str]:
    """The pipeline in ``path`` with its tokenizer and its elmo component only, and that
    component's name."""
    config = load_config(path / "config.cfg", interpolate=False)
    components = config.get("components", {})
    names = [n for n, block in components.items() if block.get("factory") == FACTORY]
    if not names:
        raise ValueError(Errors.E110.format(path=path))
    others = [n for n in config["nlp"].get("pipeline", []) if n != names[0]]
    return spacy.load(path, exclude=others), names[0]
