"""spacy-elmo: ELMo contextual embeddings for spaCy."""
from .efml_format import load_elmoformanylangs
from .elmo_format import load_allennlp, save_allennlp
from .extensions import install_extensions
from .nn import BiLM, ElmoOptions, Embedder, ScalarMix, TokenCache, published_options

__all__ = [
    "BiLM", "ElmoOptions", "Embedder", "ScalarMix", "TokenCache", "download", "install_extensions",
    "load_allennlp", "load_elmoformanylangs", "published_options", "save_allennlp",
]
__version__ = "0.1.0"


def __getattr__(name: str):
    """``spacy_elmo.download``: imported on first use, so that importing the package loads
    no network code. (Its module is ``model_download``: a submodule named ``download``
    would replace this function on the package as soon as it is imported.)"""
    if name == "download":
        from .model_download import download

        return download
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# doc._.elmo and the other attributes exist as soon as the package is imported, so docs
# read back in a new process (DocBin(store_user_data=True), Doc.from_bytes) have them.
install_extensions()
