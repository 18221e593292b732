"""Use a committed biLM instead of pretraining one: results/bilm -> runs/RUN/bilm.

The folder holds a pretraining run's final export without its pipeline copy
(options.json + weights.hdf5 in the original format, lm_head.pt + vocab.txt +
config.cfg for `spacy_elmo evaluate`) and the run's log.jsonl. This writes the layout
`pretrain` writes: OUTPUT/log.jsonl and OUTPUT/final/ with those files and pipeline/ (a
spaCy pipeline with the "elmo" component, made by `convert`), so every later step of the
workflow runs on it unchanged.

    python scripts/bilm_from_results.py results/bilm runs/full/bilm
"""
import shutil
from pathlib import Path

import typer
from wasabi import msg

from spacy_elmo.convert import convert_to_pipeline

FINAL_FILES = ("options.json", "weights.hdf5", "lm_head.pt", "vocab.txt", "config.cfg")


def main(
    source: Path = typer.Argument(..., help="Folder with the committed biLM (results/bilm)", exists=True, file_okay=False),
    output: Path = typer.Argument(..., help="Run folder to write (runs/RUN/bilm)"),
    lang: str = typer.Option("en", help="Language of the pipeline"),
) -> None:
    missing = [name for name in FINAL_FILES + ("log.jsonl",) if not (source / name).is_file()]
    if missing:
        msg.fail(f"{source} lacks {', '.join(missing)}: it is not a committed biLM folder", exits=1)
    final = output / "final"
    shutil.rmtree(final, ignore_errors=True)
    final.mkdir(parents=True)
    for name in FINAL_FILES:
        shutil.copyfile(source / name, final / name)
    shutil.copyfile(source / "log.jsonl", output / "log.jsonl")
    convert_to_pipeline(final / "options.json", final / "weights.hdf5", final / "pipeline", lang=lang)
    msg.good(f"biLM from {source} in {output}")


if __name__ == "__main__":
    typer.run(main)
