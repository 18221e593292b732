"""Stage a trained pipeline for `spacy package`: a copy of it with the project's LICENSE,
a LICENSES_SOURCES file naming the data it was trained on, and the license in meta.json
(what `spacy package` puts into the package and its README).

The trained pipeline itself is left as it is, so the steps that depend on it stay cached.
"""
import shutil
from pathlib import Path

import srsly
import typer
from wasabi import msg


def main(
    pipeline_dir: Path = typer.Argument(..., help="Trained pipeline (model-best)", exists=True, file_okay=False),
    output_dir: Path = typer.Argument(..., help="Where the staged copy goes (replaced)"),
    license_file: Path = typer.Option(..., help="The project's LICENSE file", exists=True, dir_okay=False),
    license_name: str = typer.Option("MIT", help="The license's name for meta.json"),
    sources: str = typer.Option(..., help="The training data and their licenses, for LICENSES_SOURCES"),
) -> None:
    """Copy PIPELINE_DIR to OUTPUT_DIR with LICENSE, LICENSES_SOURCES and meta.json's license."""
    if output_dir.exists():
        shutil.rmtree(output_dir)
    shutil.copytree(pipeline_dir, output_dir)
    shutil.copyfile(license_file, output_dir / "LICENSE")
    (output_dir / "LICENSES_SOURCES").write_text(sources.strip() + "\n", encoding="utf8")
    meta = srsly.read_json(output_dir / "meta.json")
    meta["license"] = license_name
    srsly.write_json(output_dir / "meta.json", meta)
    msg.good(f"Staged {pipeline_dir} in {output_dir} with {license_file.name} ({license_name})")


if __name__ == "__main__":
    typer.run(main)
