"""Accuracy of reduced-precision inference (``compute_dtype``) against float32, same run.

For each model, embeds the UD English EWT test sentences in float32 and in each reduced
format, and prints the per-token cosine similarity to float32 of every output layer:
its mean, the worst 0.1% (the 0.001 quantile) and the minimum. Models:

* ``original``: the published original architecture with random weights, exactly as
  ``bench_bilm.py`` builds it (clips active);
* ``bilm``: the committed biLM (``project/results/bilm``), whose held-out perplexity
  (``--perplexity``: ``evaluate`` on sotu:heldout, as ``project/results/metrics/lm.json``
  was measured, each paragraph alone) is also computed in every format.

Batches of ``--batch`` sentences; ``--single N``: the first N sentences also one at a
time (the single-row path, which "auto" runs in int8). Where the CPU has no native
bfloat16, bfloat16 is emulated (``precision.EMULATE_BF16``: each matmul in float32 on
bfloat16-rounded inputs and weights, the result rounded to bfloat16: the same numbers,
slowly), so its accuracy can be measured on any machine.

    python bench/bench_precision.py [--conllu PATH] [--limit N] [--dtypes int8 bfloat16]
        [--models original bilm] [--single 50] [--perplexity]
"""
import argparse
import time
from pathlib import Path
from typing import Dict, List, Sequence

import numpy
import torch

from bench_bilm import bench_bilm, cpu_name, read_conllu_forms
from spacy_elmo.pipeline_files import bilm_from_directory
from spacy_elmo.nn import BiLM, precision

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONLLU = ROOT / "project" / "data" / "ud-english-ewt" / "en_ewt-ud-test.conllu"
DEFAULT_BILM = ROOT / "project" / "results" / "bilm"


def token_cosines(reference: Sequence[numpy.ndarray], other: Sequence[numpy.ndarray]) -> numpy.ndarray:
    """(L+1, tokens): cosine of each token's vector in each layer, float64."""
    ref = numpy.concatenate(reference, axis=1).astype(numpy.float64)
    out = numpy.concatenate(other, axis=1).astype(numpy.float64)
    dot = (ref * out).sum(-1)
    norms = numpy.linalg.norm(ref, axis=-1) * numpy.linalg.norm(out, axis=-1)
    return dot / numpy.maximum(norms, 1e-30)


def summary(cosines: numpy.ndarray) -> List[Dict[str, float]]:
    return [
        {"mean": float(c.mean()), "worst_0.1%": float(numpy.quantile(c, 0.001)), "min": float(c.min())}
        for c in cosines
    ]


def embed(bilm: BiLM, sentences, compute_dtype: str, batch: int) -> List[numpy.ndarray]:
    bilm.set_compute_dtype(compute_dtype)
    try:
        return bilm.embed(sentences, batch_size=batch)
    finally:
        bilm.set_compute_dtype("float32")


def compare(name: str, bilm: BiLM, sentences, dtypes: Sequence[str], batch: int, single: int) -> None:
    cases = [(f"batch {batch}", sentences, batch)]
    if single:
        cases.append(("alone", sentences[:single], 1))
    for case, sents, size in cases:
        start = time.perf_counter()
        reference = embed(bilm, sents, "float32", size)
        print(f"\n{name}, {case}: {len(sents)} sentences, {sum(map(len, sents))} tokens "
              f"(float32 {time.perf_counter() - start:.0f} s)")
        print("| format | layer | mean cosine | worst 0.1% | min |\n|---|---:|---:|---:|---:|")
        for dtype in dtypes:
            rows = summary(token_cosines(reference, embed(bilm, sents, dtype, size)))
            for layer, row in enumerate(rows):
                print(f"| {dtype} | {layer} | {row['mean']:.6f} | {row['worst_0.1%']:.6f} | {row['min']:.6f} |")


def perplexities(model_dir: Path, dtypes: Sequence[str], batch: int) -> None:
    from spacy_elmo.pretrain.evaluate import evaluate

    print(f"\nheld-out perplexity of {model_dir} (sotu:heldout, sentence mode, batch {batch})")
    print("| format | forward | backward | average | vs float32 |\n|---|---:|---:|---:|---:|")
    base = None
    for dtype in ["float32", *dtypes]:
        result = evaluate(model_dir, "sotu:heldout", batch_size=batch, compute_dtype=dtype)
        base = base or result["average"]
        print(f"| {dtype} | {result['forward']:.2f} | {result['backward']:.2f} | "
              f"{result['average']:.2f} | {result['average'] / base - 1:+.3%} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conllu", type=Path, default=DEFAULT_CONLLU)
    parser.add_argument("--limit", type=int, default=None, help="sentences (default: all)")
    parser.add_argument("--models", nargs="+", default=["original", "bilm"])
    parser.add_argument("--bilm", type=Path, default=DEFAULT_BILM)
    parser.add_argument("--dtypes", nargs="+", default=["int8", "bfloat16"])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--single", type=int, default=0, help="sentences also embedded alone")
    parser.add_argument("--perplexity", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    native = precision.bf16_native(torch.device("cpu"))
    precision.EMULATE_BF16 = not native
    print(f"CPU: {cpu_name()}; torch {torch.__version__}; bfloat16 "
          f"{'native' if native else 'emulated (no native bfloat16 on this CPU)'}")
    sentences = read_conllu_forms(args.conllu, args.limit)
    for name in args.models:
        bilm = bench_bilm("original", sentences) if name == "original" else bilm_from_directory(args.bilm)
        compare(name, bilm, sentences, args.dtypes, args.batch, args.single)
    if args.perplexity:
        perplexities(args.bilm, args.dtypes, 32)


if __name__ == "__main__":
    main()
