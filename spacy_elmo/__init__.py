"""spacy-elmo: ELMo contextual embeddings for spaCy."""
from .efml_format import load_elmoformanylangs
from .elmo_format import load_allennlp, save_allennlp
from .nn import BiLM, ElmoOptions, Embedder, ScalarMix, TokenCache, published_options

__all__ = [
    "BiLM", "ElmoOptions", "Embedder", "ScalarMix", "TokenCache", "load_allennlp",
    "load_elmoformanylangs", "published_options", "save_allennlp",
]
__version__ = "0.1.0"
