"""The words of a CoNLL-2003 file as raw text, one sentence per line (tags dropped).

For adapt-bilm, which continues pretraining the biLM on the task's own unlabelled text
(ELMo paper, appendix A.1). Give it the training file only: never the dev or test sets.
Lines are checked as convert_conll03.py checks them (errors name file and line).
"""
from pathlib import Path

import typer
from wasabi import msg

from convert_conll03 import read_documents


def main(
    input_path: Path = typer.Argument(
        ..., help="CoNLL-2003 training file (IOB1)", exists=True, dir_okay=False
    ),
    output_path: Path = typer.Argument(..., help="Text file to write", dir_okay=False),
) -> None:
    """Write the words of each sentence, space-separated, one sentence per line."""
    try:
        docs = read_documents(input_path)
    except ValueError as err:
        msg.fail(str(err), exits=1)
    lines = [" ".join(line.split()[0] for line in sentence) for doc in docs for sentence in doc]
    output_path.parent.mkdir(parents=True, exist_ok=True)
    output_path.write_text("".join(line + "\n" for line in lines), encoding="utf8")
    msg.good(f"Wrote {len(lines)} sentences ({sum(len(l.split()) for l in lines)} words) to {output_path}")


if __name__ == "__main__":
    typer.run(main)
