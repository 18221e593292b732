"""Pure PyTorch ELMo modules (no spaCy or Thinc imports here)."""
from .bilm import BiLM
from .embedder import Embedder, TokenCache
from .lexicon import ByteLexicon, EfmlLexicon
from .lstm import BiLstmLayer, BiLstmStack
from .options import ElmoOptions, published_options
from .scalar_mix import ScalarMix
from .token_encoder import CharCNNEncoder
from .warmup import reset_initial_state, warm_up

__all__ = [
    "BiLM", "BiLstmLayer", "BiLstmStack", "ByteLexicon", "CharCNNEncoder", "EfmlLexicon", "ElmoOptions", "Embedder",
    "ScalarMix", "TokenCache", "published_options", "reset_initial_state", "warm_up",
]
