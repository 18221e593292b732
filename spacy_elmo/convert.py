"""From the original files (options.json + weights.hdf5) to spaCy pipelines, and back to biLMs."""
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

from .elmo_format import load_allennlp, load_weights, read_options
from .errors import Errors
from .nn import BiLM, ElmoOptions

PathLike = Union[str, Path]
OPTIONS_NAME = "options.json"
WEIGHTS_NAME = "weights.hdf5"
FACTORY = "elmo"
# Settings compared between a weights source and a model config (n_characters is not:
# 261 and 262 describe the same weights).
_COMPARED = ("lstm_dim", "projection_dim", "n_layers", "cell_clip", "proj_clip",
             "use_skip_connections", "char_dim", "filters", "n_highway",
             "max_characters_per_token", "activation")


def model_config_from_options(options: ElmoOptions) -> Dict[str, Any]:
    """The [components.elmo.model] block describing ``options``."""
    return {
        "@architectures": "spacy-elmo.ElmoModel.v1",
        "lstm_dim": options.lstm_dim, "projection_dim": options.projection_dim,
        "n_layers": options.n_layers, "cell_clip": options.cell_clip,
        "proj_clip": options.proj_clip, "use_skip_connections": options.use_skip_connections,
        "char_dim": options.char_dim, "filters": [list(f) for f in options.filters],
        "n_highway": options.n_highway, "n_characters": options.n_characters,
        "max_characters_per_token": options.max_characters_per_token,
        "activation": options.activation,
    }


def convert_to_pipeline(
    options_file: PathLike, weight_file: PathLike, output_dir: PathLike, lang: str = "en"
) -> Path:
    """Write a spaCy pipeline (blank ``lang`` + the elmo component) holding these weights.

    The pipeline keeps the weights in its own files: it loads with ``spacy.load`` after
    the original files are gone. Returns ``output_dir``.
    """
    import spacy

    options_file, weight_file, output_dir = Path(options_file), Path(weight_file), Path(output_dir)
    options = read_options(options_file)
    if not weight_file.is_file():
        raise FileNotFoundError(Errors.E004.format(path=weight_file))
    nlp = spacy.blank(lang)
    # set_doc_vectors: doc/token/span .vector and .similarity use ELMo out of the box.
    nlp.add_pipe(FACTORY, config={"model": model_config_from_options(options), "set_doc_vectors": True})
    init_components = nlp.config["initialize"]["components"]
    init_components[FACTORY] = {"weights": str(weight_file)}
    nlp.initialize()
    # The saved config must not point at files that may be deleted.
    del init_components[FACTORY]
    nlp.meta["name"] = "elmo"
    nlp.meta["description"] = f"ELMo biLM converted from {options_file.name} + {weight_file.name}"
    output_dir.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(output_dir)
    return output_dir


def bilm_from_directory(path: PathLike) -> BiLM:
    """The biLM (eval mode) in a directory: options.json + weights.hdf5 (directly or under
    final/, as pretraining writes it), or a spaCy pipeline with an elmo component."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(Errors.E105.format(path=path))
    files = _original_files(path)
    if files is not None:
        return load_allennlp(*files)
    if (path / "config.cfg").is_file():
        return _bilm_from_pipeline(path).eval()
    raise ValueError(Errors.E106.format(path=path))


def init_bilm_from(bilm: BiLM, path: PathLike, name: str = FACTORY) -> BiLM:
    """Load weights into ``bilm`` (built from the model config) from ``path``: an original
    weights.hdf5 file, or any directory ``bilm_from_directory`` reads. Options found
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


def check_options(found: ElmoOptions, expected: ElmoOptions, path: PathLike, name: str) -> None:
    diffs = [
        f"{key} is {getattr(found, key)!r} there, {getattr(expected, key)!r} in the config"
        for key in _COMPARED if getattr(found, key) != getattr(expected, key)
    ]
    if diffs:
        raise ValueError(Errors.E107.format(path=path, name=name, diffs="; ".join(diffs)))


def _original_files(path: Path) -> Optional[Tuple[Path, Path]]:
    for folder in (path, path / "final"):
        if (folder / OPTIONS_NAME).is_file() and (folder / WEIGHTS_NAME).is_file():
            return folder / OPTIONS_NAME, folder / WEIGHTS_NAME
    return None


def _bilm_from_pipeline(path: Path) -> BiLM:
    import spacy
    from spacy.util import load_config

    from .layers import get_bilm

    config = load_config(path / "config.cfg", interpolate=False)
    components = config.get("components", {})
    names = [n for n, block in components.items() if block.get("factory") == FACTORY]
    if not names:
        raise ValueError(Errors.E110.format(path=path))
    others = [n for n in config["nlp"].get("pipeline", []) if n != names[0]]
    nlp = spacy.load(path, exclude=others)
    return get_bilm(nlp.get_pipe(names[0]).model)
