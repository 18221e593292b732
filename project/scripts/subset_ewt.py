"""Cut the shipped demo data (project/data/) out of UD English EWT and its UNER annotations.

Takes whole documents of an EWT CoNLL-U file, in its order, until at least --sentences
sentences, and the blocks of the same sentences (same `# sent_id`s) from the UNER IOB2
file, in the UNER file's own order (its documents come in another order). Blocks are
copied byte for byte, so each output is a plain excerpt of its source.
"""
import importlib.util
from pathlib import Path
from typing import List

import typer
from wasabi import msg

_spec = importlib.util.spec_from_file_location("split_conllu", Path(__file__).with_name("split_conllu.py"))
split_conllu = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(split_conllu)


def sent_id(block: str) -> str:
    for line in block.splitlines():
        if line.startswith("# sent_id = "):
            return line[len("# sent_id = "):].strip()
    raise ValueError(f"a sentence without '# sent_id': {block[:200]!r}")


def first_documents(blocks: List[str], n_sentences: int) -> List[str]:
    """The leading blocks up to the first document start after n_sentences sentences."""
    for i, block in enumerate(blocks):
        if i >= n_sentences and "# newdoc id" in block:
            return blocks[:i]
    return blocks


def main(
    ewt_file: Path = typer.Argument(..., help="UD EWT CoNLL-U file", exists=True, dir_okay=False),
    uner_file: Path = typer.Argument(..., help="UNER IOB2 file of the same split", exists=True, dir_okay=False),
    ewt_out: Path = typer.Argument(..., help="Output: the EWT excerpt", dir_okay=False),
    uner_out: Path = typer.Argument(..., help="Output: the UNER excerpt", dir_okay=False),
    sentences: int = typer.Option(1000, help="Take whole documents until at least this many sentences"),
) -> None:
    """Write the first whole EWT documents and their UNER annotations."""
    ewt = first_documents(split_conllu.read_sentence_blocks(ewt_file), sentences)
    wanted = {sent_id(block) for block in ewt}
    uner = [b for b in split_conllu.read_sentence_blocks(uner_file) if sent_id(b) in wanted]
    if len(uner) != len(ewt):
        msg.fail(f"{uner_file} holds {len(uner)} of the {len(ewt)} sentences taken from {ewt_file}", exits=1)
    split_conllu.write_blocks(ewt_out, ewt)
    split_conllu.write_blocks(uner_out, uner)
    msg.good(f"{len(ewt)} sentences to {ewt_out} and {uner_out}")


if __name__ == "__main__":
    typer.run(main)
