"""The ``python -m spacy_elmo`` command line (typer, as spaCy's own CLI)."""
import typer

app = typer.Typer(
    name="spacy-elmo", help="ELMo biLMs for spaCy: convert, embed, pretrain, evaluate.",
    no_args_is_help=True, add_completion=False,
    # Plain help texts: rich markup would swallow "[paths]"-like text in them.
    rich_markup_mode=None,
)

# Each module below registers its commands on ``app`` when imported.
from .pretrain import cli as _pretrain_cli  # noqa: F401
from .commands import convert as _convert_cli, embed as _embed_cli  # noqa: F401,E402
