"""Train and evaluate one downstream task in every variant and seed, with spaCy's CLI.

Variants: "baseline" (configs/TASK_baseline.cfg), "spretrain" (the same, its tok2vec
initialised by `spacy pretrain` weights) and "elmo" (configs/TASK_elmo.cfg with the
biLM pipeline). Each run writes TRAINING_DIR/TASK_VARIANT_sSEED/ (TASK_VARIANT-LABEL_sSEED
with --label) and the `spacy evaluate`
JSON METRICS_DIR/TASK_VARIANT_sSEED.json, with added: ``train_seconds`` (wall time),
``steps`` (steps trained), ``stopped`` ("patience": spaCy's early stopping ended it;
"max_steps": the step budget did), ``max_steps``, ``patience``, ``seed`` and ``inputs``
(a digest of the config, corpora, limits and biLM / pretrained weights), and for ELMo
``mixes`` (the learned scalar mixes); the training log is kept beside it as
TASK_VARIANT_sSEED.train_log.jsonl. A run whose metrics already exist with the same
budget and inputs is skipped, so a long experiment resumes where it stopped.

The dev set is scored every --eval-frequency steps, capped at --max-steps so that the last
step is always scored: model-best (the pipeline evaluated on the test set) is then never
the untrained step-0 model of a short run.
"""
import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

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
    max_steps: int = typer.Option(2000, help="Most training steps (the same budget for every variant)"),
    patience: int = typer.Option(0, help="Stop after N steps without a better dev score (0: never)"),
    train_limit: int = typer.Option(0, help="Use only the first N training docs (0: all)"),
    eval_frequency: int = typer.Option(200, help="Score the dev set every N steps (at most --max-steps)"),
    dev_limit: int = typer.Option(0, help="Score only the first N dev docs during training (0: all)"),
    config_dir: Path = typer.Option(Path("configs"), help="Folder of TASK_{baseline,elmo}.cfg"),
    gpu_id: int = typer.Option(-1, help="GPU id, -1 for CPU"),
    label: str = typer.Option("", help="Name the runs TASK_VARIANT-LABEL_sSEED (lowercase "
                              "letters and digits), e.g. ELMo runs with another biLM"),
) -> None:
    if label and not (label.isascii() and label.isalnum() and label.islower()):
        msg.fail(f"--label must be lowercase letters and digits, got {label!r}", exits=1)
    if max_steps < 1:
        msg.fail(f"--max-steps must be at least 1, got {max_steps}", exits=1)
    eval_frequency = max(1, min(eval_frequency, max_steps))
    if max_steps % eval_frequency:
        msg.fail(f"--max-steps ({max_steps}) must be a multiple of --eval-frequency "
                 f"({eval_frequency}), so that the last step is scored and logged", exits=1)
    metrics_dir.mkdir(parents=True, exist_ok=True)
    for seed in [int(s) for s in seeds.split()]:
        for variant in variants.split():
            name = f"{task}_{variant}{'-' + label if label else ''}_s{seed}"
            out = metrics_dir / f"{name}.json"
            config = config_dir / f"{task}_{'elmo' if variant == 'elmo' else 'baseline'}.cfg"
            inputs = [config] + [corpus_dir / f"{s}.spacy" for s in ("train", "dev", "test")]
            inputs += _variant_inputs(variant, bilm, spretrain_weights)
            budget = {"max_steps": max_steps, "patience": patience, "seed": seed,
                      "inputs": _digest(inputs, [train_limit, dev_limit, eval_frequency])}
            if _measured(out, budget):
                msg.info(f"{name}: already measured in {out}, skipped")
                continue
            log_file = training_dir / name / "train_log.jsonl"
            overrides = _overrides(variant, bilm, spretrain_weights)
            overrides += ["--paths.train", str(corpus_dir / "train.spacy"),
                          "--paths.dev", str(corpus_dir / "dev.spacy"),
                          "--training.max_steps", str(max_steps), "--system.seed", str(seed),
                          "--corpora.train.limit", str(train_limit),
                          "--corpora.dev.limit", str(dev_limit),
                          "--training.eval_frequency", str(eval_frequency),
                          "--training.patience", str(patience),
                          "--training.logger.output_file", str(log_file)]
            log_file.unlink(missing_ok=True)  # a rerun's log starts empty
            start = time.time()
            _spacy(["train", str(config), "--output", str(training_dir / name),
                    "--gpu-id", str(gpu_id)] + overrides)
            seconds = time.time() - start
            _spacy(["evaluate", str(training_dir / name / "model-best"),
                    str(corpus_dir / "test.spacy"), "--output", str(out), "--gpu-id", str(gpu_id)])
            steps, stopped = _steps_trained(log_file, max_steps)
            srsly.write_json(out, {**srsly.read_json(out), "train_seconds": seconds,
                                   "steps": steps, "stopped": stopped, **budget})
            record_run(out, training_dir / name)
            msg.good(f"{name}: {steps} steps ({stopped}) in {seconds:.0f}s, metrics in {out}")


def record_run(metrics_file: Path, run_dir: Path) -> None:
    """Keep what the report needs beside a run's metrics, so that committed metrics are
    enough to redraw it: the dev scores logged during training (NAME.train_log.jsonl) and,
    for an ELMo pipeline, its learned scalar mixes (key "mixes" of the metrics JSON)."""
    import spacy
    from spacy.util import load_config

    from spacy_elmo.layers.listener import learned_mixes

    log_file = run_dir / "train_log.jsonl"
    if log_file.is_file():
        shutil.copyfile(log_file, metrics_file.with_name(metrics_file.stem + ".train_log.jsonl"))
    pipeline = run_dir / "model-best"
    if "elmo" not in load_config(pipeline / "config.cfg")["nlp"]["pipeline"]:
        return  # no ELMo, no mix: the pipeline is not loaded
    mixes = learned_mixes(spacy.load(pipeline))
    if mixes:
        srsly.write_json(metrics_file, {**srsly.read_json(metrics_file), "mixes": mixes})


def _measured(path: Path, budget: Dict[str, int]) -> bool:
    """Whether ``path`` holds the metrics of a finished run with this budget."""
    if not path.is_file():
        return False
    found = srsly.read_json(path)
    return "stopped" in found and all(found.get(k) == v for k, v in budget.items())


def _steps_trained(log_file: Path, max_steps: int) -> Tuple[int, str]:
    """The last step of the training log (spaCy's loop scores the dev set, and logs, at
    every eval step, and its last step is one: eval_frequency divides max_steps or equals
    it) and why training stopped there."""
    records = list(srsly.read_jsonl(log_file)) if log_file.is_file() else []
    if not records:
        msg.fail(f"No training log at {log_file}: cannot tell how many steps ran", exits=1)
    steps = max(int(r["step"]) for r in records)
    return steps, "max_steps" if steps >= max_steps else "patience"


def _variant_inputs(variant: str, bilm: Path, spretrain_weights: Path) -> List[Path]:
    if variant == "elmo":  # the pipeline's config and weights (not a run kept beside them)
        from spacy.util import load_config

        parts = {"config.cfg", "meta.json", "tokenizer", "vocab",
                 *load_config(bilm / "config.cfg")["nlp"]["pipeline"]}
        return sorted(p for p in bilm.rglob("*")
                      if p.is_file() and p.relative_to(bilm).parts[0] in parts)
    return [spretrain_weights] if variant == "spretrain" else []


def _digest(paths: List[Path], settings: List[int]) -> str:
    """sha256 over the files' names and bytes and the settings."""
    digest = hashlib.sha256(repr(settings).encode())
    for path in paths:
        digest.update(path.name.encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


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
