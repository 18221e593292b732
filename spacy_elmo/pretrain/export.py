"""The final export of a run: the original format, the softmax, and a spaCy pipeline."""
import shutil
from pathlib import Path

import torch
from confection import Config

from ..convert import convert_to_pipeline
from ..elmo_format import save_allennlp
from .checkpoint import CONFIG_FILE, VOCAB_FILE
from .evaluate import HEAD_FILE
from .lm import LanguageModel
from .vocab import Vocab

PIPELINE = "pipeline"


def export_final(
    lm: LanguageModel, vocab: Vocab, config: Config, final_dir: Path, lang: str
) -> Path:
    """Write final_dir/{options.json, weights.hdf5} (loadable by ``load_allennlp`` and
    other ELMo readers), lm_head.pt + vocab.txt + config.cfg (for ``evaluate``) and
    pipeline/ (a spaCy pipeline with the "elmo" component). Replaces an older export."""
    tmp = final_dir.with_name(final_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    options, weights = tmp / "options.json", tmp / "weights.hdf5"
    save_allennlp(lm.bilm, options, weights)
    torch.save({k: v.detach().cpu() for k, v in lm.head.state_dict().items()}, tmp / HEAD_FILE)
    vocab.to_disk(tmp / VOCAB_FILE)
    config.to_disk(tmp / CONFIG_FILE)
    convert_to_pipeline(options, weights, tmp / PIPELINE, lang)
    shutil.rmtree(final_dir, ignore_errors=True)
    tmp.rename(final_dir)
    return final_dir
