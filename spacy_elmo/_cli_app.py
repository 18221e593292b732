"""The typer app of ``python -m spacy_elmo``: every command module registers on it.

It lives apart from ``cli.py`` (which imports the command modules), so the imports point
one way: commands -> _cli_app, cli -> commands (spaCy keeps its ``app`` in ``cli/_util.py``).
Command modules import torch, spaCy and h5py inside their functions: ``--help`` and
``--version`` answer without them.
"""
import typer

from . import __version__

app = typer.Typer(
    name="spacy-elmo", no_args_is_help=True, add_completion=False,
    # Plain help texts: rich markup would swallow "[paths]"-like text in them.
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"spacy-elmo {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True,
        help="Print the version and exit"),
) -> None:
    """ELMo biLMs for spaCy: get published models, convert them to pipelines, embed
    text, pretrain, adapt and evaluate your own (every command below; COMMAND --help for each)."""
