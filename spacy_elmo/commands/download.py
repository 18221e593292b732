"""``python -m spacy_elmo download NAME [OUTPUT_DIR]``: a published biLM by name (or an
http(s) URL, or a local model) -> a spaCy pipeline; ``download --list`` shows the names."""
from pathlib import Path
from typing import Optional

import typer
from wasabi import msg

from .._cli_app import app
from ..errors import Errors


@app.command("download")
def download_cli(
    name: Optional[str] = typer.Argument(
        None, help="A published model (see --list), an http(s) URL of an options.json / "
        "weights.hdf5 / ELMoForManyLangs .zip, or a local model folder or .zip"),
    output_dir: Optional[Path] = typer.Argument(
        None, help="A new folder for the pipeline (default: in the cache, "
        "$SPACY_ELMO_CACHE or ~/.cache/spacy-elmo)"),
    list_models: bool = typer.Option(False, "--list", help="Show the published models and exit"),
    base_url: Optional[str] = typer.Option(
        None, "--base-url", help="A mirror holding the published files under the same "
        "relative paths (e.g. behind a proxy)"),
    sha256: Optional[str] = typer.Option(
        None, "--sha256", help="Expected SHA-256 of the weights file (of the .zip for "
        "ELMoForManyLangs); a mismatch keeps nothing"),
    no_convert: bool = typer.Option(
        False, "--no-convert", help="Keep the checked raw files in the cache; convert nothing"),
    lang: Optional[str] = typer.Option(
        None, "--lang", "-l", help="Language of the pipeline (default: the model's; xx "
        "for URLs and paths of ELMoForManyLangs models)"),
    segmenter: Optional[str] = typer.Option(
        None, "--segmenter", help="lang zh only: spaCy's word segmenter, char, jieba or pkuseg"),
) -> None:
    """Fetch a published biLM by name as a spaCy pipeline.

    NAME: AllenNLP's small, medium, original, original-5.5b, or an ELMoForManyLangs
    language, efml-LANG (--list shows all). The files go to a cache folder, resumably (run the command again after an
    interruption) and checked (size, format, shapes, --sha256) before anything is kept;
    the pipeline is written by the same code as `convert`, with each file's URL and
    SHA-256 in its meta.json. Prints the path to give spacy.load."""
    if list_models:
        _print_table()
        return
    from .. import model_download as library  # spaCy, torch and the network code: only now

    if name is None:
        msg.fail(Errors.E822, exits=1)
    try:
        path = library.download(name, output_dir, base_url=base_url, sha256=sha256,
                                convert=not no_convert, lang=lang, segmenter=segmenter)
    except (ValueError, OSError) as err:
        msg.fail(str(err), exits=1)
    if no_convert:
        msg.good("Model files checked", str(path))
        msg.text(f"Convert them with: python -m spacy_elmo convert ... (files in {path})")
    else:
        msg.good("Saved pipeline", str(path))
        msg.text(f'Load it with: spacy.load("{path}")')


def _print_table() -> None:
    from ..model_cache import cache_dir
    from ..published_models import PUBLISHED_MODELS

    header = ("name", "lang", "model", "weights URL")
    rows = [(m.name, m.lang, m.description, m.urls()[-1]) for m in PUBLISHED_MODELS.values()]
    widths = [max(len(row[i]) for row in rows + [header]) for i in range(len(header))]
    msg.table(rows, header=header, divider=True, widths=widths, max_col=max(widths))
    msg.text(f"Cache: {cache_dir()} (set SPACY_ELMO_CACHE to move it). Sources and licenses: "
             "spacy_elmo/published_models.py")
