"""Benchmark biLM inference on one CPU thread: tokens/s, latency, peak memory, bounds.

Builds the published architectures with random weights (scaled so that the cell and
projection clips are active), embeds the UD English EWT test sentences at each batch
size, and compares the speed with two bounds measured in the same run:

* the matmul bound: this machine's float32 GEMM rate (one thread) divided by the
  FLOPs per token of the full computation (see ``flops_per_token``);
* the memory bound at batch 1: every LSTM step reads all recurrent and projection
  weights (``recurrent_bytes``), so a step takes at least bytes / read bandwidth.

Tokens are the corpus words (the <S>/</S> positions are computed but not counted).
The sentences go to the ``Embedder`` 256 at a time, as a pipeline streams documents,
with one token cache per pass; each pass repeats the same work, and each 256-sentence
chunk counts with its fastest pass (the machine is shared: this filters out other
processes' bursts). It also checks the outputs against a plain float64 computation
(within 1e-4) and reports how often the clips were active.

    python bench/bench_bilm.py [--conllu PATH] [--arch small original efml] [--batch 1 32]
        [--limit N] [--repeats R] [--no-pack] [--compute-dtype int8 auto] [--nondeterministic]

``--compute-dtype``: formats timed beside float32 (``precision``); ``--nondeterministic``:
also float32 with ``deterministic = false`` (``BiLM.set_deterministic``: MKL for
single-row products).

``efml`` is an ELMoForManyLangs model of the published size (cnn_50_100_512_4096: the
original's LSTMs, char_dim 50, word_dim 100) with a char vocabulary of ``EFML_CHARS``
and a word vocabulary of ``EFML_WORDS`` entries (the corpus's words and characters
first, then filler entries), random weights like the others.

Each (architecture, batch) runs in a fresh process, so its peak RSS is its own.
"""
import argparse
import multiprocessing
import platform
import resource
import statistics
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from spacy_elmo.efml_format import BUNDLED_CONFIGS
from spacy_elmo.nn import BiLM, ElmoOptions, Embedder, TokenCache, packed, precision, published_options
from spacy_elmo.nn.lexicon import BOS_KEY, CHAR_SPECIALS, EOS_KEY, WORD_SPECIALS

DEFAULT_CONLLU = (
    Path(__file__).resolve().parents[2]
    / "shared" / "data" / "ud-english-ewt" / "en_ewt-ud-test.conllu"
)
LATENCY_LENGTH = 20
EFML_CHARS, EFML_WORDS = 3000, 50_000
EFML_ARCH = BUNDLED_CONFIGS / "cnn_50_100_512_4096_sample.json"


def bench_options(arch: str) -> ElmoOptions:
    """A published architecture by name, "efml" included."""
    if arch != "efml":
        return published_options(arch)
    import srsly

    return ElmoOptions.from_efml_dict(srsly.read_json(EFML_ARCH), EFML_CHARS, EFML_WORDS)


def bench_bilm(arch: str, sentences: Sequence[Sequence[str]]) -> BiLM:
    """``random_bilm``; for "efml" with vocabularies holding the corpus's entries."""
    bilm = random_bilm(bench_options(arch))
    if arch == "efml":
        chars = list(dict.fromkeys(list(CHAR_SPECIALS) + [c for s in sentences for w in s for c in w]))
        words = list(dict.fromkeys(list(WORD_SPECIALS) + [w for s in sentences for w in s]))
        chars += [chr(0x4E00 + i) for i in range(EFML_CHARS) if chr(0x4E00 + i) not in chars]
        words += [f"filler{i}" for i in range(EFML_WORDS - len(words))]
        bilm.token_encoder.lexicon.set_entries(chars[:EFML_CHARS], words)
    return bilm


def read_conllu_forms(path: Path, limit: Optional[int] = None) -> List[List[str]]:
    """The FORM column of each sentence, skipping multiword ranges (1-2) and empty nodes (1.1)."""
    sentences: List[List[str]] = []
    words: List[str] = []
    with path.open(encoding="utf8") as file:
        for line in file:
            line = line.rstrip("\n")
            if not line:
                if words:
                    sentences.append(words)
                    words = []
                    if limit is not None and len(sentences) >= limit:
                        break
            elif not line.startswith("#"):
                cols = line.split("\t")
                if cols[0].isdigit():
                    words.append(cols[1])
    if words and (limit is None or len(sentences) < limit):
        sentences.append(words)
    return sentences


# Uniform init bounds, as multiples of 1/sqrt(fan_in). A large projection gain makes the
# projection clip bite, a growing cell state hits the cell clip, and modest input and
# recurrent gains keep the network out of the chaotic regime, where float32 rounding
# alone (in any implementation) would drift from the exact float64 values by > 1e-4.
GAINS = {"w_input": 1.0, "w_hidden": 0.5, "w_proj": 8.0, "token_encoder": 2.0}


def random_bilm(options: ElmoOptions, seed: int = 0) -> BiLM:
    """Random weights (``GAINS``; biases +-0.5, char embeddings +-1) that hit both clips."""
    torch.manual_seed(seed)
    bilm = BiLM(options)
    with torch.no_grad():
        for name, param in bilm.named_parameters():
            kind = name.split(".")[-1] if name.startswith("lstm") else "token_encoder"
            if name.endswith("bias"):
                bound = 0.5
            elif "char_embedding" in name:
                bound = 1.0
            elif kind in GAINS:  # LSTM weights are (2, in, out)
                bound = GAINS[kind] / param.shape[1] ** 0.5
            else:  # Linear (out, in) or Conv1d (out, in, width)
                bound = GAINS[kind] / param[0].numel() ** 0.5
            param.uniform_(-bound, bound)
        bilm.token_encoder.char_embedding.weight[0].zero_()
    return bilm.eval().requires_grad_(False)  # frozen: derived values kept across calls


def flops_per_token(options: ElmoOptions) -> Dict[str, int]:
    """Multiply-adds x 2 of every matmul/convolution for one token position.

    cnn      = 2 * char_dim * sum_k w_k * n_k * (M - w_k + 1)   (M = 50 chars, dense)
    highway  = n_highway * 2 * (2 * F^2)                         (carry and transform)
    proj     = 2 * (word_dim + F) * P                            (if projected)
    lstm     = n_layers * 2 directions * (2*P*4C + 2*P*4C + 2*C*P) = 36 * L * C * P
               (input-to-gate, recurrent, projection; every layer's input has width P)
    """
    o = options
    M, F, P, C = o.max_characters_per_token, o.n_filters, o.projection_dim, o.lstm_dim
    parts = {
        "cnn": 2 * o.char_dim * sum(w * n * (M - w + 1) for w, n in o.filters),
        "highway": o.n_highway * 2 * 2 * F * F,
        "proj": 2 * (o.word_dim + F) * P if o.has_projection else 0,
        "lstm": o.n_layers * 2 * (2 * P * 4 * C + 2 * P * 4 * C + 2 * C * P),
    }
    parts["total"] = sum(parts.values())
    return parts


def recurrent_bytes(options: ElmoOptions) -> int:
    """float32 bytes of the weights every LSTM step must read: W_hidden and W_proj."""
    C, P = options.lstm_dim, options.projection_dim
    return options.n_layers * 2 * (P * 4 * C + C * P) * 4


def gemm_rate(repeats: int = 10) -> float:
    """Best float32 FLOP/s of a (512 x 2048) @ (2048 x 2048) matmul, on this thread.

    The faster of a plain ``torch.mm`` (MKL) and oneDNN with the weight pre-packed
    (what the biLM's fast path uses), so that the bound is this machine's, not one
    library's.
    """
    a, b = torch.randn(512, 2048), torch.randn(2048, 2048)
    out = torch.empty(512, 2048)
    runs = [lambda: torch.mm(a, b, out=out)]
    if packed.AVAILABLE:
        b_packed = packed.pack(b.t(), 512)
        runs.append(lambda: packed.linear(a, b_packed, b))
    best = float("inf")
    for run in runs:
        for index in range(repeats + 2):
            start = time.perf_counter()
            run()
            if index >= 2:
                best = min(best, time.perf_counter() - start)
    return 2 * 512 * 2048 * 2048 / best


def read_bandwidth(repeats: int = 5) -> float:
    """Best bytes/s of reading a 256 MB float32 tensor (a sum), on this thread."""
    x = torch.ones(64 * 1024 * 1024)
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        x.sum()
        times.append(time.perf_counter() - start)
    return x.numel() * 4 / min(times[1:])


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _reference_token_vectors(bilm: BiLM, char_ids: torch.Tensor) -> torch.Tensor:
    """The char CNN as the original defines it, with one Conv1d per width, float64."""
    enc = bilm.token_encoder
    if enc.word_embedding is not None:
        word_ids, char_ids = char_ids[:, 0], char_ids[:, 1:]
    emb = enc.char_embedding.weight.double()[char_ids].transpose(1, 2)
    act = torch.relu if enc.options.activation == "relu" else torch.tanh
    x = torch.cat([
        act(torch.nn.functional.conv1d(emb, c.weight.double(), c.bias.double()).amax(2))
        for c in enc.convs
    ], dim=1)
    for carry, transform in zip(enc.highway.carry, enc.highway.transform):
        g = torch.sigmoid(x @ carry.weight.double().T + carry.bias.double())
        x = g * torch.relu(x @ transform.weight.double().T + transform.bias.double()) + (1 - g) * x
    if enc.word_embedding is not None:
        x = torch.cat([enc.word_embedding.weight.double()[word_ids], x], dim=1)
    if enc.projection is not None:
        x = x @ enc.projection.weight.double().T + enc.projection.bias.double()
    return x


def reference_layers(bilm: BiLM, sentence: Sequence[str], clips: Dict[str, int]) -> torch.Tensor:
    """(L+1, n, 2P) for one sentence: every direction stepped alone, float64.

    ``clips`` counts the values the cell and projection clips changed, and all values.
    """
    ids = bilm.token_encoder.token_ids([BOS_KEY] + list(sentence) + [EOS_KEY])
    x = _reference_token_vectors(bilm, ids)
    streams = [x, x.flip(0)]  # each direction's input, in its own time order
    layers = [torch.cat([x, x], -1)]
    for index, layer in enumerate(bilm.lstm.layers):
        outs = []
        for d, seq in enumerate(streams):
            weights = [w[d].double() for w in (layer.w_input, layer.w_hidden, layer.w_proj)]
            bias = (layer.bias[d] + layer.forget_offset).double()
            h, c = bilm.initial_h[index, d].double(), bilm.initial_c[index, d].double()
            hs = []
            for x_t in seq:
                h, c = _reference_step(layer, weights, bias, x_t, h, c, clips)
                hs.append(h)
            out = torch.stack(hs)
            outs.append(out + seq if bilm.options.use_skip_connections and index > 0 else out)
        streams = outs
        layers.append(torch.cat([outs[0], outs[1].flip(0)], -1))
    return torch.stack(layers)[:, 1:-1]


def _reference_step(layer, weights, bias, x_t, h, c, clips: Dict[str, int]):
    C = layer.cell_dim
    w_input, w_hidden, w_proj = weights
    z = x_t @ w_input + h @ w_hidden + bias
    i, f, o = (torch.sigmoid(z[k * C : (k + 1) * C]) for k in range(3))
    c = f * c + i * torch.tanh(z[3 * C :])
    clips["cell"] += int((c.abs() > layer.cell_clip).sum())
    clips["cells"] += c.numel()
    c = c.clamp(-layer.cell_clip, layer.cell_clip)
    h = (o * torch.tanh(c)) @ w_proj
    clips["proj"] += int((h.abs() > layer.proj_clip).sum())
    clips["projs"] += h.numel()
    h = h.clamp(-layer.proj_clip, layer.proj_clip)
    return h, c


def max_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def embed_all(bilm: BiLM, sentences, batch: int, chunk: int, cache: TokenCache) -> List[Tuple[float, float]]:
    """Embed ``chunk`` sentences per call (as a pipeline streams docs), dropping outputs.

    Returns the (wall, CPU) seconds of each call.
    """
    embedder = Embedder(bilm, batch_size=batch, cache=cache)
    times = []
    for start in range(0, len(sentences), chunk):
        wall, cpu = time.perf_counter(), time.process_time()
        embedder(sentences[start : start + chunk])
        times.append((time.perf_counter() - wall, time.process_time() - cpu))
    return times


NONDETERMINISTIC = "float32 nondeterministic"


def set_format(bilm: BiLM, dtype: str) -> BiLM:
    """A ``--compute-dtype`` format, or ``NONDETERMINISTIC``: float32, deterministic off."""
    if dtype == NONDETERMINISTIC:
        return bilm.set_compute_dtype("float32").set_deterministic(False)
    return bilm.set_compute_dtype(dtype)


def run_config(arch: str, batch: int, args: argparse.Namespace, dtype: str = "float32") -> Dict:
    """Time one (architecture, batch size, compute dtype) in this process; check it
    against float64."""
    torch.set_num_threads(args.threads)
    packed.ENABLED = not args.no_pack
    sentences = read_conllu_forms(args.conllu, args.limit)
    bilm = set_format(bench_bilm(arch, sentences), dtype)
    rss_model = max_rss_mb()
    embed_all(bilm, sentences[: 2 * batch], batch, args.chunk, TokenCache())  # warm-up
    passes, cache = [], TokenCache()
    while len(passes) < args.repeats and sum(w for p in passes for w, _ in p) < args.budget:
        cache = TokenCache()  # each pass starts cold: its encoder runs are counted
        passes.append(embed_all(bilm, sentences, batch, args.chunk, cache))
    # every chunk at its fastest pass (the passes do the same work, cache included)
    best = [min(times) for times in zip(*passes)]
    peak = max_rss_mb()
    clips = {"cell": 0, "cells": 0, "proj": 0, "projs": 0}
    checked = sentences[: args.check]
    fast = Embedder(bilm, batch_size=batch)(checked)
    with torch.no_grad():
        error = max(
            (float((torch.from_numpy(f).double() - reference_layers(bilm, s, clips)).abs().max())
             for f, s in zip(fast, checked) if s),
            default=0.0,
        )
    return {
        "arch": arch, "batch": batch, "dtype": dtype, "ran": ran_formats(dtype, bilm),
        "n_tokens": sum(len(s) for s in sentences),
        "n_steps": sum(len(s) + 2 for s in sentences), "n_sentences": len(sentences),
        "seconds": sum(w for w, _ in best), "cpu_seconds": sum(c for _, c in best),
        "passes": len(passes),
        "encoded": cache.misses,
        "n_checked": len(checked),
        "peak_mb": peak, "work_mb": peak - rss_model, "max_error": error,
        "cell_clipped": clips["cell"] / max(clips["cells"], 1),
        "proj_clipped": clips["proj"] / max(clips["projs"], 1),
    }


def ran_formats(dtype: str, bilm: BiLM) -> str:
    """The formats ``dtype`` runs here: one name, or "batches / single rows"."""
    dtype = "float32" if dtype == NONDETERMINISTIC else dtype
    many, one = precision.formats(dtype, torch.device("cpu"), bilm.lstm.layers[0].w_hidden[0].numel())
    return many if many == one else f"{many} / {one}"


def run_latency(arch: str, args: argparse.Namespace, dtype: str = "float32") -> Dict:
    """Milliseconds to embed one 20-token EWT sentence alone (batch 1).

    cold: a fresh token cache (every token, <S> and </S> through the char CNN);
    cached: the sentence's token vectors already cached, as for frequent words in a
    running pipeline. Best and median of the repeats.
    """
    torch.set_num_threads(args.threads)
    packed.ENABLED = not args.no_pack
    sentence = next(s for s in read_conllu_forms(args.conllu) if len(s) == LATENCY_LENGTH)
    bilm = set_format(bench_bilm(arch, [sentence]), dtype)
    warm = TokenCache()
    Embedder(bilm, batch_size=1, cache=warm)([sentence])
    cold, cached, cold_cpu = [], [], []
    for _ in range(args.latency_repeats):
        for cache, times in ((TokenCache(), cold), (warm, cached)):
            start, cpu = time.perf_counter(), time.process_time()
            Embedder(bilm, batch_size=1, cache=cache)([sentence])
            times.append(1000 * (time.perf_counter() - start))
            if times is cold:
                cold_cpu.append(1000 * (time.process_time() - cpu))
    return {"arch": arch, "dtype": dtype, "ran": ran_formats(dtype, bilm), "cold": cold,
            "cached": cached, "cold_cpu": cold_cpu}


def _in_subprocess(function, *args):
    """Run ``function(*args)`` in a fresh process, so its peak RSS is its own."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)


def report(results: List[Dict], latencies: List[Dict], rate: float, bandwidth: float) -> None:
    print(f"CPU: {cpu_name()}; torch {torch.__version__}; threads {torch.get_num_threads()}")
    print(f"float32 matmul rate {rate / 1e9:.1f} GFLOP/s; read bandwidth {bandwidth / 1e9:.1f} GB/s")
    for arch in dict.fromkeys([r["arch"] for r in results] + [r["arch"] for r in latencies]):
        flops = flops_per_token(bench_options(arch))
        print(f"{arch}: FLOPs/token " + ", ".join(f"{k} {v / 1e6:.1f}M" for k, v in flops.items())
              + f"; matmul bound {rate / flops['total']:.0f} tokens/s; recurrent weights "
              f"{recurrent_bytes(bench_options(arch)) / 1e6:.1f} MB per step")
    header = ("| arch | batch | format (ran) | tokens/s | x float32 | tokens/CPU-s | x float32 "
              "| of matmul bound | LSTM FLOPs only | of memory bound "
              "| peak RSS (MB) | over the model (MB) | char-CNN runs/token | passes |")
    print("\n" + header + "\n" + "|---" * (header.count("|") - 1) + "|")
    for r in results:
        options = bench_options(r["arch"])
        flops, rbytes = flops_per_token(options), recurrent_bytes(options)
        tps, cps = r["n_tokens"] / r["seconds"], r["n_tokens"] / r["cpu_seconds"]
        base = _float32_row(results, r, ("batch",))
        memory_bound = bandwidth / rbytes * r["n_tokens"] / r["n_steps"]
        print(f"| {r['arch']} | {r['batch']} | {r['dtype']} ({r['ran']}) | {tps:.0f} "
              f"| {_ratio(base and base['seconds'], r['seconds'])} | {cps:.0f} "
              f"| {_ratio(base and base['cpu_seconds'], r['cpu_seconds'])} "
              f"| {tps * flops['total'] / rate:.0%} | {tps * flops['lstm'] / rate:.0%} "
              f"| {f'{tps / memory_bound:.0%}' if r['batch'] == 1 else '-'} "
              f"| {r['peak_mb']:.0f} | {r['work_mb']:.0f} | {r['encoded'] / r['n_tokens']:.2f} "
              f"| {r['passes']} |")
    if latencies:
        header = ("| arch | format (ran) | 20 tokens alone, cold (ms) | / float32 | CPU time, cold (ms) "
                  "| / float32 | token vectors cached (ms) | memory bound, float32 (ms) | matmul bound (ms) |")
        print("\n" + header + "\n" + "|---" * (header.count("|") - 1) + "|")
    for r in latencies:
        options = bench_options(r["arch"])
        steps = LATENCY_LENGTH + 2
        memory_ms = 1000 * steps * recurrent_bytes(options) / bandwidth
        matmul_ms = 1000 * steps * flops_per_token(options)["total"] / rate
        base = _float32_row(latencies, r, ())
        print(f"| {r['arch']} | {r['dtype']} ({r['ran']}) "
              f"| {min(r['cold']):.1f} (median {statistics.median(r['cold']):.1f}) "
              f"| {_ratio(min(r['cold']), base and min(base['cold']))} "
              f"| {min(r['cold_cpu']):.1f} | {_ratio(min(r['cold_cpu']), base and min(base['cold_cpu']))} "
              f"| {min(r['cached']):.1f} (median {statistics.median(r['cached']):.1f}) "
              f"| {memory_ms:.0f} | {matmul_ms:.0f} |")
    for r in results:
        print(f"check {r['arch']} batch {r['batch']} {r['dtype']}: max |fast - float64| = {r['max_error']:.1e} "
              f"over {r['n_checked']} sentences; clipped: {r['cell_clipped']:.1%} of cell values, "
              f"{r['proj_clipped']:.1%} of projections")


def _float32_row(rows: List[Dict], row: Dict, keys: Sequence[str]) -> Optional[Dict]:
    """The float32 row of the same architecture (and ``keys``) as ``row``."""
    return next((r for r in rows if r["dtype"] == "float32" and r["arch"] == row["arch"]
                 and all(r[k] == row[k] for k in keys)), None)


def _ratio(numerator: Optional[float], denominator: Optional[float]) -> str:
    return "-" if numerator is None or denominator is None else f"{numerator / denominator:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conllu", type=Path, default=DEFAULT_CONLLU)
    parser.add_argument("--arch", nargs="+", default=["small", "original"])
    parser.add_argument("--batch", nargs="*", type=int, default=[1, 32])
    parser.add_argument("--limit", type=int, default=None, help="sentences (default: all)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed passes; each chunk counts with its fastest pass")
    parser.add_argument("--budget", type=float, default=120.0,
                        help="no further pass once the passes took this many seconds")
    parser.add_argument("--latency-repeats", type=int, default=15)
    parser.add_argument("--chunk", type=int, default=256, help="sentences per Embedder call")
    parser.add_argument("--check", type=int, default=4, help="sentences checked against float64")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-pack", action="store_true", help="no pre-packed weight copies")
    parser.add_argument("--compute-dtype", nargs="+", default=["float32"], choices=precision.COMPUTE_DTYPES,
                        help="formats to time, each against float32 in the same run")
    parser.add_argument("--nondeterministic", action="store_true",
                        help="also time float32 with deterministic = false")
    args = parser.parse_args()
    if not args.conllu.exists():
        print(f"Skipping: {args.conllu} not found (pass --conllu PATH).")
        return
    torch.set_num_threads(args.threads)
    rates, bandwidths = [gemm_rate()], [read_bandwidth()]
    results, latencies = [], []
    dtypes = list(dict.fromkeys(["float32", *args.compute_dtype]))  # float32: the reference
    dtypes += [NONDETERMINISTIC] if args.nondeterministic else []
    for arch in args.arch:
        for dtype in dtypes if args.latency_repeats else []:
            latencies.append(_in_subprocess(run_latency, arch, args, dtype))
            print(f"  {arch} {dtype} 20 tokens alone: {min(latencies[-1]['cold']):.1f} ms", flush=True)
        for batch in args.batch:
            for dtype in dtypes:
                results.append(_in_subprocess(run_config, arch, batch, args, dtype))
                r = results[-1]
                print(f"  {arch} batch {batch} {dtype}: {r['n_tokens'] / r['seconds']:.0f} tokens/s", flush=True)
    rates.append(gemm_rate())
    bandwidths.append(read_bandwidth())
    report(results, latencies, max(rates), max(bandwidths))


if __name__ == "__main__":
    main()
