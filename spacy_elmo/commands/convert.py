"""``python -m spacy_elmo convert``: a model's files -> a loadable spaCy pipeline.

Two forms: ``convert OPTIONS_JSON WEIGHTS_HDF5 OUTPUT_DIR`` (the original format) and
``convert MODEL_DIR OUTPUT_DIR`` (an ELMoForManyLangs model folder).
"""
import warnings
from pathlib import Path
from typing import List, Optional

import typer
from wasabi import msg

from .._cli_app import app
from ..errors import Errors


@app.command("convert")
def convert_cli(
    paths: List[Path] = typer.Argument(
        ..., help="OPTIONS_JSON WEIGHTS_HDF5 OUTPUT_DIR (original ELMo files), or "
        "MODEL_DIR OUTPUT_DIR (an ELMoForManyLangs model folder)"),
    lang: str = typer.Option("en", "--lang", "-l", help="Language of the blank pipeline"),
    segmenter: Optional[str] = typer.Option(
        None, "--segmenter", help="lang zh only: spaCy's word segmenter, char, jieba or "
        "pkuseg (ELMoForManyLangs' Chinese models expect words: jieba)"),
    force: bool = typer.Option(
        False, "--force", "-F", help="Replace an existing pipeline in OUTPUT_DIR"),
    license: Optional[str] = typer.Option(
        None, "--license", help="The biLM's license, written into meta.json (ELMoForManyLangs: "
        "from its config.json if it has one)"),
    source: Optional[str] = typer.Option(
        None, "--source", help="Where the biLM comes from (a name or URL), written into meta.json"),
    threads: Optional[int] = typer.Option(
        None, "--threads", "-t", help="CPU threads of torch (default: the cores this process may use)"),
) -> None:
    """Convert an ELMo or ELMoForManyLangs model to a spaCy pipeline.

    OPTIONS_JSON WEIGHTS_HDF5 OUTPUT_DIR reads the original files; MODEL_DIR OUTPUT_DIR
    an ELMoForManyLangs model folder.
    The pipeline holds the "elmo" component with set_doc_vectors on, so .vector and
    .similarity use ELMo; it loads with spacy.load, without the original files.
    It is written beside OUTPUT_DIR and renamed into place when complete; an existing
    non-empty OUTPUT_DIR is replaced only with --force, and only if it is a pipeline."""
    if len(paths) not in (2, 3):
        msg.fail(Errors.E721.format(found=" ".join(map(str, paths))), exits=1)
    from ..convert import convert_efml_to_pipeline, convert_to_pipeline  # spaCy, torch

    settings = {"lang": lang, "segmenter": segmenter, "force": force, "license": license,
                "source": source}
    from ..devices import set_threads

    convert = convert_efml_to_pipeline if len(paths) == 2 else convert_to_pipeline
    try:
        set_threads(threads)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            path = convert(*paths, **settings)
    except (ValueError, FileNotFoundError, PermissionError, IsADirectoryError) as err:
        msg.fail(str(err), exits=1)
    for warning in caught:  # one line each, as the errors
        msg.warn(str(warning.message))
    msg.good("Saved pipeline", str(path))
