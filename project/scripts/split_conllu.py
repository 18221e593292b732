"""Split a CoNLL-U file into its first sentences and its last --tail sentences.

Sentence blocks are copied byte for byte, comment lines (# sent_id, # newdoc,
...) and the blank lines after them included, so that HEAD_OUT followed by
TAIL_OUT is exactly INPUT. Used to make a train and a dev set out of UD EWT's
dev file, whose test file stays the test set.
"""
from pathlib import Path
from typing import List, Tuple

import typer
from wasabi import msg


def read_sentence_blocks(path: Path) -> List[str]:
    """Read a CoNLL-U file into sentence blocks whose concatenation is the file.

    A block is a sentence's comment and token lines plus the blank lines after
    it. Lines before a sentence's first token line (comments, blank lines)
    belong to that sentence, lines after the last one to the last one. A file
    without token lines has no blocks.
    """
    blocks: List[str] = []
    lines: List[str] = []
    has_tokens = False
    # newline="": keep each line's own line ending, to write it back unchanged.
    with path.open(encoding="utf8", newline="") as file_:
        for line in file_:
            is_blank = not line.strip()
            if not is_blank and has_tokens and not lines[-1].strip():
                blocks.append("".join(lines))
                lines, has_tokens = [], False
            has_tokens = has_tokens or not (is_blank or line.startswith("#"))
            lines.append(line)
    if has_tokens:
        blocks.append("".join(lines))
    elif blocks:
        blocks[-1] += "".join(lines)
    return blocks


def split_blocks(blocks: List[str], tail: int) -> Tuple[List[str], List[str]]:
    """Split off the last `tail` blocks; both parts must be non-empty."""
    if not 0 < tail < len(blocks):
        raise ValueError(
            f"--tail must be between 1 and {len(blocks) - 1} "
            f"(the input has {len(blocks)} sentences), got {tail}"
        )
    return blocks[:-tail], blocks[-tail:]


def write_blocks(path: Path, blocks: List[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf8", newline="") as file_:
        file_.write("".join(blocks))


app = typer.Typer(add_completion=False)


@app.command()
def main(
    input_path: Path = typer.Argument(
        ..., help="CoNLL-U file", exists=True, dir_okay=False
    ),
    head_path: Path = typer.Argument(
        ..., help="Output: all sentences but the last --tail", dir_okay=False
    ),
    tail_path: Path = typer.Argument(
        ..., help="Output: the last --tail sentences", dir_okay=False
    ),
    tail: int = typer.Option(300, "--tail", help="Sentences in TAIL_PATH"),
) -> None:
    """Split a CoNLL-U file into its first sentences and its last --tail ones."""
    try:
        head, tail_blocks = split_blocks(read_sentence_blocks(input_path), tail)
    except ValueError as err:
        msg.fail(str(err), exits=1)
    write_blocks(head_path, head)
    write_blocks(tail_path, tail_blocks)
    msg.good(
        f"Split {input_path}: {len(head)} sentences to {head_path}, "
        f"{len(tail_blocks)} to {tail_path}"
    )


if __name__ == "__main__":
    app()
