"""The ``python -m spacy_elmo`` command line (typer, as spaCy's own CLI): ``app`` with
every command registered (each module of ``commands`` registers its commands when imported)."""
from ._cli_app import app
from .commands import pretrain as _pretrain_cli  # noqa: F401  (registered first: help order)
from .commands import adapt as _adapt_cli  # noqa: F401,I100  (after pretrain, as it builds on it)
from .commands import convert as _convert_cli, embed as _embed_cli  # noqa: F401,I100
from .commands import download as _download_cli  # noqa: F401

__all__ = ["app"]
