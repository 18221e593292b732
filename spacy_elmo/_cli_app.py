"""The typer app of ``python -m spacy_elmo``: every command module registers on it.

It lives apart from ``cli.py`` (which imports the command modules), so the imports point
one way: commands -> _cli_app, cli -> commands (spaCy keeps its ``app`` in ``cli/_util.py``).
"""
import typer

app = typer.Typer(
    name="spacy-elmo", help="ELMo biLMs for spaCy: convert, embed, pretrain, adapt, evaluate.",
    no_args_is_help=True, add_completion=False,
    # Plain help texts: rich markup would swallow "[paths]"-like text in them.
    rich_markup_mode=None,
)
