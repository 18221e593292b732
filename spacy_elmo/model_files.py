"""Finding and loading biLM weights in model files: options.json + weights.hdf5 (also
under a pretraining run's final/) or an ELMoForManyLangs model folder.

Format layer: nothing of spaCy or Thinc. A spaCy pipeline folder is read by the spaCy
layer (``pipeline_files``), which falls back on this module for the other kinds.
"""
from pathlib import Path
from typing import List, Optional, Tuple, Union

from . import efml_format
from .elmo_format import load_allennlp, load_weights, read_options
from .errors import Errors
from .nn import BiLM, ElmoOptions

PathLike = Union[str, Path]
OPTIONS_NAME = "options.json"
WEIGHTS_NAME = "weights.hdf5"
FINAL = "final"  # the folder where a pretraining run exports its model


def find_final(path: Path, *names: str) -> Optional[Path]:
    """``path`` itself or, for a pretraining output, its final/ folder: the first that
    holds every file in ``names``; None when neither does."""
    for folder in (path, path / FINAL):
        if all((folder / name).is_file() for name in names):
            return folder
    return None


def original_files(path: Path) -> Optional[Tuple[Path, Path]]:
    """options.json and weights.hdf5 in ``path`` or its final/ folder, or None."""
    folder = find_final(path, OPTIONS_NAME, WEIGHTS_NAME)
    return None if folder is None else (folder / OPTIONS_NAME, folder / WEIGHTS_NAME)


def read_model_files(path: Path) -> Optional[BiLM]:
    """The biLM (eval mode) of the model files in directory ``path``: options.json +
    weights.hdf5 (directly or under final/) or an ELMoForManyLangs folder; None when
    ``path`` holds neither."""
    files = original_files(path)
    if files is not None:
        return load_allennlp(*files)
    if efml_format.is_efml_dir(path):
        return efml_format.load_elmoformanylangs(path)
    return None


def load_original_weights(bilm: BiLM, path: Path, name: str) -> BiLM:
    """Load an original weights.hdf5 file, or the options.json + weights.hdf5 of a
    directory (whose options must match ``bilm.options``), into ``bilm``."""
    if path.is_file():
        return load_weights(bilm, path)
    files = original_files(path)
    if files is None:
        raise ValueError(Errors.E106.format(path=path))
    check_options(read_options(files[0]), bilm.options, files[0], name)
    return load_weights(bilm, files[1])


def option_differences(found: ElmoOptions, expected: ElmoOptions) -> List[str]:
    """The settings (of those that shape the weights) where ``found`` differs from ``expected``."""
    return [key for key in ElmoOptions.weight_settings() if getattr(found, key) != getattr(expected, key)]


def describe_differences(
    found: ElmoOptions, expected: ElmoOptions, there: str = "there", here: str = "in the config",
) -> str:
    """"lstm_dim is 32 there, 16 in the config; ...": the differences, for an error
    ("" when there is none)."""
    return "; ".join(
        f"{key} is {getattr(found, key)!r} {there}, {getattr(expected, key)!r} {here}"
        for key in option_differences(found, expected))


def check_options(found: ElmoOptions, expected: ElmoOptions, path: PathLike, name: str) -> None:
    diffs = describe_differences(found, expected)
    if diffs:
        raise ValueError(Errors.E107.format(path=path, name=name, diffs=diffs))
