"""``python -m spacy_elmo convert``: a model's files -> a loadable spaCy pipeline.

Two forms: ``convert OPTIONS_JSON WEIGHTS_HDF5 OUTPUT_DIR`` (the original format) and
``convert MODEL_DIR OUTPUT_DIR`` (an ELMoForManyLangs model folder).
"""
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
) -> None:
    """Convert an ELMo or ELMoForManyLangs model to a spaCy pipeline.

    OPTIONS_JSON WEIGHTS_HDF5 OUTPUT_DIR reads the original files; MODEL_DIR OUTPUT_DIR
    an ELMoForManyLangs model folder.
    The pipeline holds the "elmo" component with set_doc_vectors on, so .vector and
    .similarity use ELMo; it loads with spacy.load, without the original files."""
    if len(paths) not in (2, 3):
        msg.fail(Errors.E626.format(found=" ".join(map(str, paths))), exits=1)
    from ..convert import convert_efml_to_pipeline, convert_to_pipeline  # spaCy, torch

    try:
        if len(paths) == 2:
            path = convert_efml_to_pipeline(paths[0], paths[1], lang=lang, segmenter=segmenter)
        else:
            path = convert_to_pipeline(*paths, lang=lang, segmenter=segmenter)
    except (ValueError, FileNotFoundError, PermissionError, IsADirectoryError) as err:
        msg.fail(str(err), exits=1)
    msg.good("Saved pipeline", str(path))
