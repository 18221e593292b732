"""The final export of a run: the original format, the softmax, and a spaCy pipeline."""
import os
import shutil
import warnings
from pathlib import Path

from confection import Config

from ..convert import convert_efml_to_pipeline, convert_to_pipeline
from ..efml_format import save_elmoformanylangs
from ..elmo_format import save_allennlp
from ..model_files import OPTIONS_NAME, WEIGHTS_NAME
from ..output_file import write_errors
from ..torch_files import save_tensors
from .checkpoint import CONFIG_FILE, VOCAB_FILE
from .evaluate import HEAD_FILE
from .lm import LanguageModel
from .vocab import Vocab

PIPELINE = "pipeline"


def export_final(
    lm: LanguageModel, vocab: Vocab, config: Config, final_dir: Path, lang: str
) -> Path:
    """Write final_dir/{options.json, weights.hdf5} (loadable by ``load_allennlp`` and
    other ELMo readers; an ELMoForManyLangs biLM in its own layout, config.json,
    char.dic, ..., which its code and ``load_elmoformanylangs`` read), lm_head.pt + vocab.txt + config.cfg (for ``evaluate``) and
    pipeline/ (a spaCy pipeline with the "elmo" component). Replaces an older export.

    Everything is written to ``.final.tmpPID/`` first, which then takes the place of the
    old export: a kill or a full disk leaves the old export (or none), never half of one.
    """
    tmp = final_dir.with_name(f".{final_dir.name}.tmp{os.getpid()}")
    old = final_dir.with_name(f".{final_dir.name}.old{os.getpid()}")
    try:
        with write_errors(final_dir):
            tmp.mkdir(parents=True)
            _write(lm, vocab, config, tmp, lang)
            if final_dir.exists():
                final_dir.rename(old)
            try:
                tmp.rename(final_dir)
            except OSError:
                old.rename(final_dir) if old.exists() else None
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return final_dir


def _write(lm: LanguageModel, vocab: Vocab, config: Config, folder: Path, lang: str) -> None:
    if lm.bilm.options.token_encoder == "efml":  # its own layout: the vocabularies go along
        save_elmoformanylangs(lm.bilm, folder, dropout=float(config["training"]["dropout"]))
        with warnings.catch_warnings():  # W113 (Chinese, character tokens): the pipeline
            # tokenizes as the run did ([corpus] lang); adapt keeps a pipeline's own
            warnings.filterwarnings("ignore", message=r"\[W113\]")
            convert_efml_to_pipeline(folder, folder / PIPELINE, lang)
    else:
        options, weights = folder / OPTIONS_NAME, folder / WEIGHTS_NAME
        save_allennlp(lm.bilm, options, weights)
        convert_to_pipeline(options, weights, folder / PIPELINE, lang)
    save_tensors({k: v.detach().cpu() for k, v in lm.head.state_dict().items()}, folder / HEAD_FILE)
    vocab.to_disk(folder / VOCAB_FILE)
    config.to_disk(folder / CONFIG_FILE)
