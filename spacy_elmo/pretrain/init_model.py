"""The biLM a run starts from: ``[paths] init_bilm`` (continued pretraining, domain adaptation).

``read_init_model(path, options)`` reads the biLM (and the softmax, where there is one)
and checks that it has the [model] section's dimensions; ``InitModel.apply`` copies it
into a fresh ``LanguageModel``. What PATH may be, one reader per kind, tried in order:

- a pretraining output directory (its final/) or that final/ directory: the biLM,
  the softmax (lm_head.pt) and its vocabulary (vocab.txt);
- a directory with options.json + weights.hdf5, or a spaCy pipeline with an "elmo"
  component (``pipeline_files.bilm_from_directory``): the biLM only.

Another kind of model plugs in as one more function in ``READERS``, before the last.
Only a run that starts reads PATH; a resumed run continues from its checkpoint.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import torch

from ..efml_format import is_efml_dir
from ..errors import Errors
from ..model_files import OPTIONS_NAME, describe_differences, find_final
from ..nn.bilm import BiLM
from ..nn.options import ElmoOptions
from ..pipeline_files import bilm_from_directory
from ..torch_files import UnsafeFileError, check_finite, load_tensors
from .checkpoint import CHECKPOINTS, VOCAB_FILE
from .evaluate import HEAD_FILE
from .lm import LanguageModel
from .vocab import Vocab


PIPELINE_KIND = "spaCy pipeline"


@dataclass
class InitModel:
    """path: what [paths] init_bilm names. kind: which reader read it (for the log).
    bilm: its biLM. head: its softmax's state_dict (weight (K, P), bias (K,)) and vocab
    its K words, or both None. final: the directory holding the softmax files
    (lm_head.pt, vocab.txt, config.cfg), or None."""

    path: Path
    kind: str
    bilm: BiLM
    head: Optional[Dict[str, torch.Tensor]] = None
    vocab: Optional[List[str]] = None
    final: Optional[Path] = None

    def apply(self, lm: LanguageModel, vocab: Vocab) -> str:
        """Copy the biLM into ``lm`` (char CNN, highway, projection, LSTMs, initial
        state), and the softmax when the vocabularies are the same. Returns what
        happened to the softmax, as one line."""
        lm.bilm.load_state_dict(self.bilm.state_dict())
        if self.head is None:
            return "fresh: the init model has no softmax"
        if self.vocab != vocab.words:
            shared = len(set(self.vocab) & set(vocab.words))
            return (f"fresh: the run's vocabulary ({len(vocab)} entries, {shared} of them in "
                    f"the init model's {len(self.vocab)}) is not the init model's")
        lm.head.load_state_dict(self.head)
        return f"reused: the same vocabulary ({len(vocab)} entries)"


def read_init_model(path: str, options: ElmoOptions) -> InitModel:
    """The model at ``path``, checked against the run's [model] ``options``; one error
    (naming ``path`` and what is wrong) otherwise."""
    path = Path(path)
    model = read_model(path, Errors.E650)
    diffs = describe_differences(model.bilm.options, options, "there", "in [model]")
    if diffs:
        raise ValueError(Errors.E652.format(path=path, diffs=diffs))
    return model


def read_model(path: Path, error: str = Errors.E650) -> InitModel:
    """The model at ``path``, whatever its kind (``READERS``); a problem raises one
    ValueError, ``error`` formatted with ``path`` and the problem."""
    if not path.exists():
        raise ValueError(error.format(path=path, problem="no such file or directory"))
    if not path.is_dir():
        raise ValueError(error.format(path=path, problem=Errors.E651))
    try:
        return next(m for m in (read(path) for read in READERS) if m is not None)
    except UnsafeFileError:  # pickled objects: refused as they are, nothing was run
        raise
    except (ValueError, OSError) as err:  # the readers' errors name the file and what is wrong
        raise ValueError(error.format(path=path, problem=err)) from None


def _pretraining_output(path: Path) -> Optional[InitModel]:
    """A run's final/ export (biLM + softmax + vocabulary), given the run or final/."""
    final = find_final(path, HEAD_FILE)
    if final is not None:
        vocab = Vocab.from_disk(final / VOCAB_FILE).words
        bilm = bilm_from_directory(final)
        head = _read_head(final / HEAD_FILE, len(vocab), bilm.options.projection_dim)
        return InitModel(path, "pretraining output", bilm, head, vocab, final)
    if (path / CHECKPOINTS).is_dir():
        raise ValueError(Errors.E653)
    return None


def _read_head(path: Path, n_words: int, dim: int) -> Dict[str, torch.Tensor]:
    head = load_tensors(path, path)  # a truncated or foreign file: an error naming it
    expected = {"weight": (n_words, dim), "bias": (n_words,)}
    found = {k: tuple(v.shape) for k, v in head.items()} if isinstance(head, dict) else head
    if found != expected:
        raise ValueError(Errors.E654.format(
            file=path, problem=f"expected tensors {expected} (vocab.txt, options.json), found {found}"))
    check_finite(head, path)
    return head


def _bilm_directory(path: Path) -> InitModel:
    """options.json + weights.hdf5, an ELMoForManyLangs folder or a spaCy pipeline; the
    last reader (it raises when ``path`` is no model)."""
    kind = ("options.json + weights.hdf5" if (path / OPTIONS_NAME).is_file()
            else "ELMoForManyLangs model" if is_efml_dir(path) else PIPELINE_KIND)
    return InitModel(path, kind, bilm_from_directory(path))


READERS: Tuple[Callable[[Path], Optional[InitModel]], ...] = (_pretraining_output, _bilm_directory)
