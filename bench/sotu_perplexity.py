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
import math
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import torch

from spacy_elmo.pretrain import evaluate, load_config, pretrain
from spacy_elmo.pretrain.corpus import Tokenizer, read_sentences, sotu_files
from spacy_elmo.pretrain.vocab import UNK_TOKEN, Vocab

ROOT = Path(__file__).resolve().parents[1]
BOS, EOS = "<S>", "</S>"
DISCOUNT = 0.75


def mapped(sentences: List[List[str]], vocab: Vocab) -> List[List[str]]:
    return [[w if w in vocab else UNK_TOKEN for w in s] for s in sentences]


def unigram_nll(train: List[List[str]], test: List[List[str]], vocab: Vocab) -> float:
    """Add-one unigram over the vocabulary (all targets but <S>)."""
    counts = Counter(w for s in train for w in s + [EOS])
    total, size = sum(counts.values()), len(vocab) - 1
    return -sum(math.log((counts[w] + 1) / (total + size)) for s in test for w in s + [EOS])


class KneserNey:
    """Interpolated Kneser-Ney of order n with one absolute discount, the lowest order
    interpolated with the uniform distribution over the vocabulary."""

    def __init__(self, order: int, sentences: List[List[str]], vocab_size: int) -> None:
        self.order, self.vocab_size = order, vocab_size
        self.counts: List[Dict[Tuple[str, ...], Counter]] = [defaultdict(Counter) for _ in range(order)]
        for s in sentences:
            padded = [BOS] * (order - 1) + s + [EOS]
            for i in range(order - 1, len(padded)):
                self.counts[order - 1][tuple(padded[i - order + 1 : i])][padded[i]] += 1
        # lower orders count continuations: how many distinct words precede each n-gram
        for k in range(order - 1, 0, -1):
            for context, followers in self.counts[k].items():
                for word in followers:
                    self.counts[k - 1][context[1:]][word] += 1
        self.totals = [{c: sum(f.values()) for c, f in level.items()} for level in self.counts]

    def prob(self, context: Tuple[str, ...], word: str) -> float:
        p = 1.0 / self.vocab_size
        for k in range(self.order):
            ctx = context[len(context) - k :] if k else ()
            followers = self.counts[k].get(ctx)
            if not followers:
                continue
            total = self.totals[k][ctx]
            p = max(followers[word] - DISCOUNT, 0) / total + DISCOUNT * len(followers) / total * p
        return p

    def nll(self, sentences: List[List[str]]) -> float:
        out = 0.0
        for s in sentences:
            padded = [BOS] * (self.order - 1) + s + [EOS]
            for i in range(self.order - 1, len(padded)):
                out -= math.log(self.prob(tuple(padded[i - self.order + 1 : i]), padded[i]))
        return out


def baselines(train: List[List[str]], test: List[List[str]], vocab: Vocab) -> Dict[str, Dict[str, float]]:
    """Forward, backward and average perplexity of each baseline."""
    train, test = mapped(train, vocab), mapped(test, vocab)
    count = sum(len(s) + 1 for s in test)
    results = {}
    for name, make in [("unigram (add-one)", None), ("Kneser-Ney bigram", 2), ("Kneser-Ney trigram", 3)]:
        nlls = []
        for direction in (1, -1):
            tr, te = [s[::direction] for s in train], [s[::direction] for s in test]
            nlls.append(unigram_nll(tr, te, vocab) if make is None else KneserNey(make, tr, len(vocab) - 1).nll(te))
        results[name] = {"forward": math.exp(nlls[0] / count), "backward": math.exp(nlls[1] / count),
                         "average": math.exp(sum(nlls) / 2 / count)}
    return results


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
    tokenizer = Tokenizer(config["corpus"]["lang"], config["corpus"]["tokenizer"], config["corpus"]["lowercase"])
    train = list(read_sentences(sotu_files("train"), tokenizer))
    test = list(read_sentences(sotu_files("heldout"), tokenizer))
    report["baselines"] = baselines(train, test, vocab)
    report["heldout_targets"] = sum(len(s) + 1 for s in test)
    report["heldout_unk_rate"] = sum(w not in vocab for s in test for w in s) / sum(len(s) for s in test)
    (args.output / "sotu_perplexity.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
