"""``python -m spacy_elmo convert``: original ELMo files -> a loadable spaCy pipeline."""
from pathlib import Path

import typer
from wasabi import msg

from ..cli import app
from ..convert import convert_to_pipeline


@app.command("convert")
def convert_cli(
    options_json: Path = typer.Argument(
        ..., help="options.json of the ELMo model", exists=True, dir_okay=False),
    weights_hdf5: Path = typer.Argument(
        ..., help="weights.hdf5 of the ELMo model", exists=True, dir_okay=False),
    output_dir: Path = typer.Argument(
        ..., help="Directory to write the spaCy pipeline to", file_okay=False),
    lang: str = typer.Option("en", "--lang", "-l", help="Language of the blank pipeline"),
) -> None:
    """Convert original ELMo files to a spaCy pipeline.

    The pipeline holds the "elmo" component with set_doc_vectors on, so .vector and
    .similarity use ELMo; it loads with spacy.load, without the original files."""
    path = convert_to_pipeline(options_json, weights_hdf5, output_dir, lang=lang)
    msg.good("Saved pipeline", str(path))
