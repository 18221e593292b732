"""Thinc glue around the PyTorch biLM."""
from .bilm_layer import BiLMLayer, CachedBiLM, cached_bilm
from .elmo_model import ElmoModel, ElmoSettings, get_bilm, reset_token_cache
from .scalar_mix import ScalarMixLayer

__all__ = [
    "BiLMLayer", "CachedBiLM", "ElmoModel", "ElmoSettings", "ScalarMixLayer", "cached_bilm",
    "get_bilm", "reset_token_cache",
]
