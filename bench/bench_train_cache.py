"""Time `spacy train` steps with a frozen ELMo, with and without its feature cache.

Trains project/configs/TASK_baseline.cfg and TASK_elmo.cfg (``--task``: tagger_parser or
ner; the ELMo one twice: feature cache disabled, and at its default) for ``--steps``
steps. By default on UD English EWT dev (the first ``--train-limit`` sentences, so that
the steps cover several epochs and the cache is hit), with the first ``--dev-limit``
sentences of EWT test as dev (evaluated once, at step 0), and an ELMo pipeline made by
``python -m spacy_elmo convert`` from a biLM of the published "small" size with random
weights (speed does not depend on the weights); ``--train``/``--dev`` (.spacy) and
``--elmo`` (a pipeline) measure the project's own corpora and biLM instead. Each variant
runs in its own process, one torch thread. Reports seconds per step as CPU time of the
process (less sensitive to other jobs on a shared machine) and wall time, from the start
of step 1 to the start of the last step (so that initialization and the step-0
evaluation are left out): overall, after the first epoch (where the cache is full) and
per epoch. The variants see the same batches (same seed).

    OMP_NUM_THREADS=1 nice -n 10 python bench/bench_train_cache.py [--steps 200]
        [--train-limit 600] [--dev-limit 100] [--workdir DIR] [--output results.json]
        [--task ner --train TRAIN.spacy --dev DEV.spacy --elmo PIPELINE]
"""
import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import srsly
import torch
from spacy.util import load_config, registry

ROOT = Path(__file__).resolve().parents[1]
EWT = ROOT.parent / "shared" / "data" / "ud-english-ewt"
CONFIGS = ROOT / "project" / "configs"
# variant -> (config kind, feature_cache_bytes: None for the default)
VARIANTS = {
    "baseline": ("baseline", None),
    "elmo_no_cache": ("elmo", 0),
    "elmo_cache": ("elmo", None),
}
_STEP_TIMES: List[float] = []  # CPU time of the process at the start of each step
_STEP_WALL: List[float] = []
_STEP_EPOCHS: List[int] = []
_NLP: List = []


@registry.callbacks("spacy-elmo-bench.step_timer.v1")
def make_step_timer():
    def record(nlp, args: Dict) -> None:
        _STEP_TIMES.append(time.process_time())
        _STEP_WALL.append(time.perf_counter())
        _STEP_EPOCHS.append(int(args["epoch"]))
        if not _NLP:
            _NLP.append(nlp)

    return record


def run(cmd: List[str]) -> None:
    subprocess.run(cmd, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def prepare(workdir: Path, train: Path = None, dev: Path = None,
            elmo: Path = None) -> Dict[str, Path]:
    """The corpora (given, or EWT dev/test as .spacy) and the ELMo pipeline (given, or
    one of a random "small" biLM), with the cache at its default and disabled."""
    pipeline = elmo or workdir / "small_random" / "pipeline"
    paths = {"elmo": pipeline, "elmo_no_cache": workdir / "pipeline_no_cache"}
    if train and dev:
        paths.update(train=train, dev=dev)
    else:
        paths.update(prepare_ewt(workdir))
    if elmo is None and not (pipeline / "config.cfg").exists():
        random_small(pipeline.parent)
    no_cache = paths["elmo_no_cache"]
    if no_cache.exists():
        shutil.rmtree(no_cache)  # made again: the pipeline given may differ from last time
    shutil.copytree(pipeline, no_cache)
    config = load_config(no_cache / "config.cfg")
    config["components"]["elmo"]["model"]["feature_cache_bytes"] = 0
    config.to_disk(no_cache / "config.cfg")
    return paths


def prepare_ewt(workdir: Path) -> Dict[str, Path]:
    """EWT dev and test as .spacy, one sentence per doc."""
    corpus = workdir / "corpus"
    if not (corpus / "en_ewt-ud-test.spacy").exists():
        corpus.mkdir(parents=True, exist_ok=True)
        for split in ("dev", "test"):
            run([sys.executable, "-m", "spacy", "convert", str(EWT / f"en_ewt-ud-{split}.conllu"),
                 str(corpus), "--converter", "conllu", "--n-sents", "1"])
    return {"train": corpus / "en_ewt-ud-dev.spacy", "dev": corpus / "en_ewt-ud-test.spacy"}


def random_small(model: Path) -> None:
    """A biLM of the published "small" size with random weights, converted to a pipeline."""
    from spacy_elmo import BiLM, published_options, save_allennlp

    torch.manual_seed(0)
    model.mkdir(parents=True, exist_ok=True)
    save_allennlp(BiLM(published_options("small")).eval(), model / "options.json",
                  model / "weights.hdf5")
    run([sys.executable, "-m", "spacy_elmo", "convert", str(model / "options.json"),
         str(model / "weights.hdf5"), str(model / "pipeline")])


def train_one(variant: str, paths: Dict[str, str], steps: int, train_limit: int,
              dev_limit: int, workdir: Path, task: str) -> dict:
    """Run in a child process: train one variant, return its step times."""
    from spacy.cli.train import train

    torch.set_num_threads(1)
    config_path = write_config(variant, paths, steps, train_limit, dev_limit, workdir, task)
    start = time.perf_counter()
    train(config_path, output_path=None, use_gpu=-1)
    return {"variant": variant, "steps": len(_STEP_TIMES) - 1,
            "total_wall_seconds": time.perf_counter() - start, **step_times(),
            "feature_cache": cache_stats(_NLP[0]), "machine": platform.machine(),
            "torch_threads": torch.get_num_threads()}


def write_config(variant: str, paths: Dict[str, str], steps: int, train_limit: int,
                 dev_limit: int, workdir: Path, task: str) -> Path:
    kind, cache_bytes = VARIANTS[variant]
    config = load_config(CONFIGS / f"{task}_{kind}.cfg", interpolate=False)
    config["paths"]["train"], config["paths"]["dev"] = paths["train"], paths["dev"]
    if kind == "elmo":
        config["paths"]["elmo"] = paths["elmo" if cache_bytes is None else "elmo_no_cache"]
    config["corpora"]["train"]["limit"] = train_limit
    config["corpora"]["dev"]["limit"] = dev_limit
    config["training"].update({"max_steps": steps, "eval_frequency": 100_000, "max_epochs": 0})
    config["training"]["before_update"] = {"@callbacks": "spacy-elmo-bench.step_timer.v1"}
    config_path = workdir / f"{variant}.cfg"
    config.to_disk(config_path)
    return config_path


def step_times() -> dict:
    """CPU (and wall) seconds per step from the start of step 1 to that of the last one."""
    times, wall, epochs = _STEP_TIMES, _STEP_WALL, _STEP_EPOCHS
    steps = range(1, len(times) - 1)

    def mean(indices: List[int]) -> float:
        return sum(times[i + 1] - times[i] for i in indices) / max(len(indices), 1)

    per_epoch = {}
    for epoch in sorted(set(epochs[1:-1])):
        idx = [i for i in steps if epochs[i] == epoch]
        per_epoch[epoch] = {"steps": len(idx), "seconds_per_step": mean(idx)}
    return {"seconds_per_step": mean(list(steps)),
            "wall_seconds_per_step": (wall[-1] - wall[1]) / (len(wall) - 2),
            "seconds_per_step_after_epoch_0": mean([i for i in steps if epochs[i] >= 1]),
            "per_epoch": per_epoch}


def cache_stats(nlp) -> dict:
    if "elmo" not in nlp.pipe_names:
        return {}
    from spacy_elmo.layers import feature_cache

    found = feature_cache(nlp.get_pipe("elmo").model)
    return {"entries": len(found), "bytes": found.nbytes, "hits": found.hits,
            "misses": found.misses}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--train-limit", type=int, default=600)
    parser.add_argument("--dev-limit", type=int, default=100)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench_train_cache"))
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--task", default="tagger_parser", choices=["tagger_parser", "ner"],
                        help="project/configs/TASK_{baseline,elmo}.cfg")
    parser.add_argument("--train", type=Path, default=None,
                        help="Training .spacy (with --dev; default: EWT dev)")
    parser.add_argument("--dev", type=Path, default=None, help="Dev .spacy (default: EWT test)")
    parser.add_argument("--elmo", type=Path, default=None,
                        help="ELMo pipeline (default: a random biLM of the small size)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.child:
        paths = srsly.read_json(args.workdir / "paths.json")
        result = train_one(args.child, paths, args.steps, args.train_limit, args.dev_limit,
                           args.workdir, args.task)
        srsly.write_json(args.workdir / f"{args.child}.json", result)
        return
    if (args.train is None) != (args.dev is None):
        parser.error("--train and --dev go together")
    paths = {k: str(v) for k, v in prepare(args.workdir, args.train, args.dev, args.elmo).items()}
    srsly.write_json(args.workdir / "paths.json", paths)
    results = {}
    for variant in args.variants.split(","):
        run([sys.executable, __file__, "--child", variant, "--steps", str(args.steps),
             "--train-limit", str(args.train_limit), "--dev-limit", str(args.dev_limit),
             "--workdir", str(args.workdir), "--task", args.task])
        results[variant] = srsly.read_json(args.workdir / f"{variant}.json")
    base = results.get("baseline", {})
    print(f"{'variant':<16}{'CPU s/step':>11}{'x base':>8}{'epochs>=1':>11}{'x base':>8}"
          f"{'wall s/step':>13}  per epoch (CPU s/step, steps)")
    for name, res in results.items():
        cells = [res["seconds_per_step"], res["seconds_per_step_after_epoch_0"]]
        keys = ["seconds_per_step", "seconds_per_step_after_epoch_0"]
        ratios = [f"{c / base[k]:.2f}" if base else "-" for c, k in zip(cells, keys)]
        epochs = ", ".join(f"{e}: {v['seconds_per_step']:.3f} ({v['steps']})"
                           for e, v in res["per_epoch"].items())
        print(f"{name:<16}{cells[0]:>11.3f}{ratios[0]:>8}{cells[1]:>11.3f}{ratios[1]:>8}"
              f"{res['wall_seconds_per_step']:>13.3f}  {epochs}")
    if args.output:
        srsly.write_json(args.output, results)


if __name__ == "__main__":
    main()
