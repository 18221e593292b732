"""Put the labelled corpora into assets/: from a local copy if one is there, else from
their public URLs (the same files that `spacy project assets` downloads).

A file already in assets/ is kept. Checking a local folder first lets machines without
network access (CI, offline servers) run the workflow with their own copies.
"""
import shutil
import urllib.request
from pathlib import Path
from typing import Optional

import typer
from wasabi import msg

FILES = {
    "conll03": ["eng.train", "eng.testa", "eng.testb"],
    "ud": ["en_ewt-ud-dev.conllu", "en_ewt-ud-test.conllu"],
}
LOCAL_NAMES = {"conll03": "conll2003", "ud": "ud-english-ewt"}


def main(
    assets_dir: Path = typer.Argument(..., help="Destination: assets/{conll03,ud}/"),
    conll03_url: str = typer.Option(..., help="Base URL of the CoNLL-2003 files"),
    ud_url: str = typer.Option(..., help="Base URL of the UD English EWT files"),
    local: Optional[Path] = typer.Option(None, help="Folder with conll2003/ and ud-english-ewt/ copies"),
) -> None:
    urls = {"conll03": conll03_url, "ud": ud_url}
    for corpus, names in FILES.items():
        (assets_dir / corpus).mkdir(parents=True, exist_ok=True)
        for name in names:
            dest = assets_dir / corpus / name
            copy = local / LOCAL_NAMES[corpus] / name if local else None
            if dest.exists():
                msg.info(f"{dest}: already there")
            elif copy is not None and copy.exists():
                shutil.copyfile(copy, dest)
                msg.good(f"{dest}: copied from {copy}")
            else:
                _download(f"{urls[corpus]}/{name}", dest, copy)


def _download(url: str, dest: Path, copy: Optional[Path]) -> None:
    part = dest.with_suffix(dest.suffix + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, part.open("wb") as out:
            shutil.copyfileobj(response, out)
    except OSError as err:
        part.unlink(missing_ok=True)
        looked = f"No local copy at {copy.resolve()}" if copy else "No local folder was given"
        msg.fail(f"Could not download {url}: {err}. {looked}. Without network access, put the "
                 f"files there or pass --vars.local_data FOLDER (a folder holding conll2003/ and "
                 f"ud-english-ewt/). CoNLL-2003 cannot be shipped with the project (Reuters license); "
                 f"`spacy project run demo` needs neither: it uses the UNER / EWT excerpts in data/.",
                 exits=1)
    part.rename(dest)
    msg.good(f"{dest}: downloaded from {url}")


if __name__ == "__main__":
    typer.run(main)
