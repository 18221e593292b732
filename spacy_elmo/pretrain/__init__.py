"""Pretraining an ELMo biLM on raw text: library API (``cli.py`` is a thin layer over it)."""
from .config import DEFAULT_CONFIG, PretrainSettings, load_config
from .corpus import Tokenizer, count_tokens, resolve_paths, sotu_files, sotu_texts
from .evaluate import evaluate, load_language_model, perplexity
from .export import export_final
from .lm import LanguageModel, SoftmaxHead, init_like_original, sample_log_uniform
from .train import NonFiniteLoss, pretrain
from .vocab import Vocab, build_vocab

__all__ = [
    "DEFAULT_CONFIG", "LanguageModel", "NonFiniteLoss", "PretrainSettings", "SoftmaxHead",
    "Tokenizer", "Vocab", "build_vocab", "count_tokens", "evaluate", "export_final",
    "init_like_original", "load_config", "load_language_model", "perplexity", "pretrain",
    "resolve_paths", "sample_log_uniform", "sotu_files", "sotu_texts",
]
