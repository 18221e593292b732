"""Raw text (one paragraph per line) -> JSONL {"text": ...} for `spacy pretrain`."""
from pathlib import Path

import srsly
import typer


def main(input_txt: Path, output_jsonl: Path) -> None:
    with input_txt.open(encoding="utf8") as handle:
        lines = ({"text": line.strip()} for line in handle if line.strip())
        srsly.write_jsonl(output_jsonl, lines)


if __name__ == "__main__":
    typer.run(main)
