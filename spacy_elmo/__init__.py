"""spacy-elmo: ELMo contextual embeddings for spaCy.

The public names load on first use (PEP 562), so ``python -m spacy_elmo --help`` and
``--version`` answer without importing torch; ``import spacy_elmo`` still registers the
Doc/Token/Span extensions at once (it then imports spaCy, and through Thinc torch).
"""
import importlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name -> the module that defines it.
_API = {
    "BiLM": "nn", "ElmoOptions": "nn", "Embedder": "nn", "ScalarMix": "nn", "TokenCache": "nn",
    "published_options": "nn", "install_extensions": "extensions", "add_vector_hooks": "extensions",
    "load_allennlp": "elmo_format", "save_allennlp": "elmo_format",
    "load_elmoformanylangs": "efml_format", "save_elmoformanylangs": "efml_format",
    # the network code only when used; its module is not named "download", or importing
    # it would replace this function on the package with the module
    "download": "model_download",
}
__all__ = sorted(_API)

if TYPE_CHECKING:
    from .efml_format import load_elmoformanylangs, save_elmoformanylangs
    from .elmo_format import load_allennlp, save_allennlp
    from .extensions import add_vector_hooks, install_extensions
    from .model_download import download
    from .nn import BiLM, ElmoOptions, Embedder, ScalarMix, TokenCache, published_options


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_API[name]}", __name__), name)
    globals()[name] = value
    return value


def _started_as_command_line() -> bool:
    """Whether this import is ``python -m spacy_elmo ...`` (runpy imports the package
    while ``sys.argv[0]`` is still "-m") or the ``spacy-elmo`` script starting. The
    commands import what they need, the pipeline factory installs the extensions."""
    argv = getattr(sys, "argv", None) or [""]  # embedded interpreters may have none
    if argv[0] == "-m":
        args = getattr(sys, "orig_argv", [])
        return any(a == "-m" and b.split(".")[0] == __name__ for a, b in zip(args, args[1:]))
    return Path(argv[0]).stem == "spacy-elmo"


# doc._.elmo and the other attributes exist as soon as the package is imported, so docs
# read back in a new process (DocBin(store_user_data=True), Doc.from_bytes) have them.
if not _started_as_command_line():
    from .extensions import install_extensions

    install_extensions()
