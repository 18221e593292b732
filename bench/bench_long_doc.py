"""Peak memory of the "elmo" component on one long doc, against its output size.

Builds the "small" architecture (``published_options("small")``: 2 x 1024 LSTM, P = 128)
with random weights and ``store_layers = []`` (only the mix is kept on the doc), warms it
up on a short doc, then runs one doc of ``--tokens`` tokens (no sentence boundaries, so
the model cuts it into overlapping windows) in a fresh process. Reports the peak resident
memory increase over the loaded pipeline (Linux: VmHWM reset through /proc/self/clear_refs
after the warm-up, then VmHWM - VmRSS) as a ratio to the full (L+1)-layer float32 output,
(L+1) x tokens x 2P x 4 bytes. Target: increase <= output + 100 MB.

    python bench/bench_long_doc.py [--tokens 60000] [--threads 1]
"""
import argparse
import time
from pathlib import Path

import numpy
import spacy
import torch
from spacy.tokens import Doc

from spacy_elmo.model_config import model_config_from_options
from spacy_elmo.nn import published_options

MB = 1024 * 1024


def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS (Linux >= 4.0)


def long_doc(nlp, n_tokens: int, seed: int = 0) -> Doc:
    """Random words with a Zipf-like frequency, as in running text (many repeats)."""
    rng = numpy.random.default_rng(seed)
    vocab = [f"w{i}" + "abcdefghij"[i % 10] * (i % 7) for i in range(20000)]
    ids = numpy.minimum(rng.zipf(1.3, size=n_tokens) - 1, len(vocab) - 1)
    return Doc(nlp.vocab, words=[vocab[i] for i in ids])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=60000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    options = published_options("small")
    nlp = spacy.blank("en")
    model = {**model_config_from_options(options), "allow_random_weights": True}
    nlp.add_pipe("elmo", config={"model": model, "store_layers": []})
    torch.manual_seed(0)
    nlp.initialize()  # random weights, on purpose
    nlp(long_doc(nlp, 6000, seed=1))  # warm-up: full batches of windows (oneDNN primitives, caches)
    doc = long_doc(nlp, args.tokens)
    reset_peak()
    base = status_kb("VmRSS") * 1024
    start = time.perf_counter()
    doc = nlp(doc)
    seconds = time.perf_counter() - start
    peak = status_kb("VmHWM") * 1024
    output = options.n_output_layers * args.tokens * options.output_dim * 4
    increase = peak - base
    print(f"{args.tokens} tokens, small (2 x 1024, P=128), store_layers=[], "
          f"{args.threads} thread(s), torch {torch.__version__}: {seconds:.1f} s")
    print(f"(L+1)-layer output: {output / MB:.1f} MB; peak RSS increase: {increase / MB:.1f} MB "
          f"= {increase / output:.2f} x the output (target <= {(output + 100 * MB) / MB:.1f} MB "
          f"= {(output + 100 * MB) / output:.2f} x)")
    assert doc._.elmo_vectors.shape == (args.tokens, options.output_dim)


if __name__ == "__main__":
    main()
