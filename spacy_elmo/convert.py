"""From the original files (options.json + weights.hdf5) or an ELMoForManyLangs model
folder to spaCy pipelines, and back to biLMs."""
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from . import efml_format
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
             "max_characters_per_token", "activation", "token_encoder", "embedding_rows",
             "word_dim", "word_rows")


def model_config_from_options(options: ElmoOptions) -> Dict[str, Any]:
    """The [components.elmo.model] block describing ``options`` ("spacy-elmo.ElmoModel.v2",
    which names the token encoder and the vocabulary sizes)."""
    return {
        "@architectures": "spacy-elmo.ElmoModel.v2",
        "lstm_dim": options.lstm_dim, "projection_dim": options.projection_dim,
        "n_layers": options.n_layers, "cell_clip": options.cell_clip,
        "proj_clip": options.proj_clip, "use_skip_connections": options.use_skip_connections,
        "char_dim": options.char_dim, "filters": [list(f) for f in options.filters],
        "n_highway": options.n_highway, "n_characters": options.n_characters,
        "max_characters_per_token": options.max_characters_per_token,
        "activation": options.activation, "token_encoder": options.token_encoder,
        "word_dim": options.word_dim, "n_words": options.n_words,
    }


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
    import spacy

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
