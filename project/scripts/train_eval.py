"""Train and evaluate one downstream task in every variant and seed, with spaCy's CLI.

Variants: "baseline" (configs/TASK_baseline.cfg), "spretrain" (the same, its tok2vec
initialised by `spacy pretrain` weights) and "elmo" (configs/TASK_elmo.cfg with the
biLM pipeline). Each run writes TRAINING_DIR/TASK_VARIANT_sSEED/ and the `spacy evaluate`
JSON METRICS_DIR/TASK_VARIANT_sSEED.json (with the training wall time added).

The dev set is scored every --eval-frequency steps, capped at --max-steps so that the last
step is always scored: model-best (the pipeline evaluated on the test set) is then never
the untrained step-0 model of a short run.
"""
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import srsly
import typer
from wasabi import msg

VARIANTS = ("baseline", "spretrain", "elmo")


def main(
    task: str = typer.Argument(..., help="ner or tagger_parser"),
    corpus_dir: Path = typer.Argument(..., help="Folder with train.spacy, dev.spacy, test.spacy"),
    bilm: Path = typer.Argument(..., help="biLM pipeline directory (the elmo component)"),
    spretrain_weights: Path = typer.Argument(..., help="`spacy pretrain` weights (.bin)"),
    training_dir: Path = typer.Argument(..., help="Where trained pipelines go"),
    metrics_dir: Path = typer.Argument(..., help="Where evaluation JSONs go"),
    seeds: str = typer.Option("0 1", help="Space-separated seeds"),
    variants: str = typer.Option(" ".join(VARIANTS), help="Space-separated variants to run"),
    max_steps: int = typer.Option(2000, help="Training steps (the same budget for every variant)"),
    train_limit: int = typer.Option(0, help="Use only the first N training docs (0: all)"),
    eval_frequency: int = typer.Option(200, help="Score the dev set every N steps (at most --max-steps)"),
    dev_limit: int = typer.Option(0, help="Score only the first N dev docs during training (0: all)"),
    config_dir: Path = typer.Option(Path("configs"), help="Folder of TASK_{baseline,elmo}.cfg"),
    gpu_id: int = typer.Option(-1, help="GPU id, -1 for CPU"),
) -> None:
    if max_steps < 1:
        msg.fail(f"--max-steps must be at least 1, got {max_steps}", exits=1)
    metrics_dir.mkdir(parents=True, exist_ok=True)
    for seed in [int(s) for s in seeds.split()]:
        for variant in variants.split():
            name = f"{task}_{variant}_s{seed}"
            overrides = _overrides(variant, bilm, spretrain_weights)
            overrides += ["--paths.train", str(corpus_dir / "train.spacy"),
                          "--paths.dev", str(corpus_dir / "dev.spacy"),
                          "--training.max_steps", str(max_steps), "--system.seed", str(seed),
                          "--corpora.train.limit", str(train_limit),
                          "--corpora.dev.limit", str(dev_limit),
                          "--training.eval_frequency", str(max(1, min(eval_frequency, max_steps)))]
            config = config_dir / f"{task}_{'elmo' if variant == 'elmo' else 'baseline'}.cfg"
            start = time.time()
            _spacy(["train", str(config), "--output", str(training_dir / name),
                    "--gpu-id", str(gpu_id)] + overrides)
            seconds = time.time() - start
            out = metrics_dir / f"{name}.json"
            _spacy(["evaluate", str(training_dir / name / "model-best"),
                    str(corpus_dir / "test.spacy"), "--output", str(out), "--gpu-id", str(gpu_id)])
            srsly.write_json(out, {**srsly.read_json(out), "train_seconds": seconds,
                                   "max_steps": max_steps, "seed": seed})
            msg.good(f"{name}: trained in {seconds:.0f}s, metrics in {out}")


def _overrides(variant: str, bilm: Path, spretrain_weights: Path) -> List[str]:
    if variant == "elmo":
        return ["--paths.elmo", str(bilm)]
    if variant == "spretrain":
        return ["--paths.init_tok2vec", str(spretrain_weights)]
    return []


def _spacy(args: List[str]) -> None:
    result = subprocess.run([sys.executable, "-m", "spacy"] + args)
    if result.returncode != 0:
        msg.fail(f"spacy {args[0]} failed (exit {result.returncode})", exits=1)


if __name__ == "__main__":
    typer.run(main)
