"""Domain adaptation: continue pretraining a biLM on new text vs a biLM trained from scratch.

A tiny biLM (project/configs/pretrain_tiny.cfg) is pretrained on sotu:train (speeches)
for --base-steps steps. Then, on the words of UD English EWT dev (web text, one sentence
per line), the same number of steps (--steps) is run twice per seed: from that biLM
(--paths.init_bilm) and from random weights. Both are evaluated with
``python -m spacy_elmo evaluate`` on the EWT test sentences (full softmax, every
sentence alone). Two vocabularies are compared:

- "ewt": the softmax vocabulary built from the new text (the adapted run's softmax
  starts fresh, as the words differ);
- "init": the base biLM's vocabulary (--paths.vocab; the adapted run keeps its softmax).

The perplexities of the two runs of a row share their vocabulary, so they compare;
rows with different vocabularies do not (out-of-vocabulary words are <UNK>).

    OMP_NUM_THREADS=1 nice -n 10 python bench/bench_domain_adapt.py /tmp/bench_adapt
"""
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import srsly
import typer

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "project" / "configs" / "pretrain_tiny.cfg"
EWT = ROOT.parent / "shared" / "data" / "ud-english-ewt"


def conllu_sentences(path: Path) -> List[str]:
    """The FORM column of each sentence, space-joined (multi-word and empty tokens skipped)."""
    sentences, words = [], []
    for line in path.read_text(encoding="utf8").splitlines() + [""]:
        if not line.strip():
            if words:
                sentences.append(" ".join(words))
            words = []
        elif not line.startswith("#"):
            cols = line.split("\t")
            if cols[0].isdigit():
                words.append(cols[1])
    return sentences


def spacy_elmo(*args) -> str:
    run = subprocess.run([sys.executable, "-m", "spacy_elmo", *map(str, args)], cwd=ROOT,
                         capture_output=True, text=True)
    if run.returncode:
        sys.exit(f"spacy_elmo {' '.join(map(str, args[:3]))} failed:\n{run.stdout}\n{run.stderr}")
    return run.stdout


def pretrain(output: Path, train, steps: int, *extra) -> float:
    """Train (or reuse a finished run with the same settings); returns seconds."""
    start = time.perf_counter()
    spacy_elmo("pretrain", TINY, output, "--resume", "--silent", "--paths.train", train,
               "--paths.dev", "null", "--training.max_steps", steps,
               "--training.checkpoint_every", steps, *extra)
    return time.perf_counter() - start


def perplexity(model: Path, text: Path) -> float:
    return srsly.json_loads(spacy_elmo("evaluate", model, text).strip().splitlines()[-1])["average"]


def main(
    # fmt: off
    out: Path = typer.Argument(..., help="Working directory (runs and text files)"),
    base_steps: int = typer.Option(10000, help="Steps on sotu:train for the base biLM"),
    steps: int = typer.Option(600, help="Steps on the new text, adapted and from scratch"),
    seeds: str = typer.Option("0 1 2", help="Seeds of the runs on the new text"),
    ewt: Path = typer.Option(EWT, help="Folder with en_ewt-ud-dev.conllu and en_ewt-ud-test.conllu"),
    # fmt: on
):
    out.mkdir(parents=True, exist_ok=True)
    train, test = out / "ewt_dev.txt", out / "ewt_test.txt"
    for name, path in (("dev", train), ("test", test)):
        path.write_text("\n".join(conllu_sentences(ewt / f"en_ewt-ud-{name}.conllu")) + "\n", encoding="utf8")
    base = out / "base"
    seconds = pretrain(base, "sotu:train", base_steps)
    print(f"base: {base_steps} steps on sotu:train in {seconds:.0f} s; "
          f"perplexity on EWT test (its own vocabulary): {perplexity(base, test):.1f}")
    vocabularies = {"ewt": [], "init": ["--paths.vocab", base / "final" / "vocab.txt"]}
    rows: Dict[str, Dict[str, List[float]]] = {}
    for vocab, vocab_args in vocabularies.items():
        for seed in seeds.split():
            common = ["--corpus.tokenizer", "whitespace", "--training.seed", seed, *vocab_args]
            for kind, init in (("adapted", ["--paths.init_bilm", base]), ("scratch", [])):
                run = out / f"{vocab}_{kind}_s{seed}"
                seconds = pretrain(run, train, steps, *common, *init)
                ppl = perplexity(run, test)
                rows.setdefault(vocab, {}).setdefault(kind, []).append(ppl)
                print(f"vocab {vocab} seed {seed} {kind}: {steps} steps in {seconds:.0f} s, "
                      f"EWT test perplexity {ppl:.1f}")
    print(f"\n| vocabulary | adapted | from scratch | ratio |  ({steps} steps, seeds {seeds})")
    print("|---|---|---|---|")
    for vocab, result in rows.items():
        adapted, scratch = (statistics.mean(result[k]) for k in ("adapted", "scratch"))
        print(f"| {vocab} | {adapted:.1f} | {scratch:.1f} | {adapted / scratch:.3f} |")


if __name__ == "__main__":
    typer.run(main)
