"""Thinc glue around the PyTorch biLM."""
from .bilm_layer import BiLMLayer, CachedBiLM, cached_bilm
from .elmo_model import (
    ElmoModel, ElmoSettings, feature_cache, get_bilm, predict_stored,
)
from .feature_cache import FeatureCache
from .scalar_mix import ScalarMixLayer

__all__ = [
    "BiLMLayer", "CachedBiLM", "ElmoModel", "ElmoSettings", "FeatureCache", "ScalarMixLayer",
    "cached_bilm", "feature_cache", "get_bilm", "predict_stored",
]
