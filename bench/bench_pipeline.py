"""Benchmark the spaCy "elmo" component on one CPU thread.

For a published architecture (random weights, the same in both routes) and the first N
sentences of UD English EWT test (FORM column, given as pre-tokenized Docs so that the
tokenizer is not timed), reports:

* ``nlp.pipe`` tokens/s, and ``bilm.embed`` tokens/s on the same token lists;
* the overhead of the spaCy layer: pipe time / embed time - 1 (target: under 10%);
  both start from an empty token cache in every repeat, best of R interleaved repeats
  after a warm-up, and batch alike (nlp.pipe's default 1000 docs, sorted by length,
  ``--batch-size`` per biLM call). Times are this process's CPU time (one thread), so
  that other work on a shared machine counts less;
* memory per 1,000 tokens stored on the docs (layers + mix) in float32 and float16:
  the exact bytes, and the tracemalloc peak (numpy allocations; torch's are not
  traced) of piping in batches of ``--batch-size`` docs while keeping every doc.

    python bench/bench_pipeline.py [--size small|medium|original] [--limit N]
        [--repeats R] [--batch-size B] [--conllu PATH]

With ``--compute-dtype int8 [auto bfloat16]`` it compares the formats instead: the
same sentences through three routes, each format against float32 in the same run (the
formats and routes interleaved in every repeat, best CPU time of each), with
``bench_bilm.py``'s random weights (clips active; the same in every route and format):

* ``bilm``: ``bench_bilm.py``'s timed call (``embed_all``: ``Embedder`` calls of 256
  sentences, a cold token cache per pass);
* ``nlp.pipe``: the component with ``[components.elmo.model] compute_dtype`` (feature
  and token caches emptied before each repeat);
* ``embed``: the library function of ``python -m spacy_elmo embed --compute-dtype``
  (``embed_file``: the sentences as a text file, every layer written to HDF5).

It prints each route's tokens/s, its speed-up over float32, and the relative difference
of the ``nlp.pipe`` and ``embed`` speed-ups to the ``bilm`` one (issue 22: within 10%).

    python bench/bench_pipeline.py --size original --batch-size 32 --limit 96 \
        --repeats 3 --compute-dtype int8 auto
"""
import argparse
import platform
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Callable, Dict, List

import spacy
import torch
from spacy.language import Language
from spacy.tokens import Doc

from bench_bilm import bench_bilm, cpu_name, embed_all
from spacy_elmo.model_config import model_config_from_options
from spacy_elmo.layers import cached_bilm, feature_cache, get_bilm
from spacy_elmo.layers.elmo_model import bilm_layer
from spacy_elmo.nn import BiLM, Embedder, TokenCache, precision, published_options

DEFAULT_CONLLU = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "ud-english-ewt"
    / "en_ewt-ud-test.conllu"
)


def read_sentences(path: Path, limit: int) -> List[List[str]]:
    """FORM column per sentence (multiword ranges and empty nodes skipped)."""
    sentences, words = [], []
    for line in path.read_text(encoding="utf8").splitlines() + [""]:
        if not line.strip():
            if words:
                sentences.append(words)
                words = []
        elif not line.startswith("#"):
            cols = line.split("\t")
            if cols[0].isdigit():
                words.append(cols[1])
        if len(sentences) >= limit:
            break
    return sentences


def build_pipeline(bilm: BiLM, batch_size: int, dtype: str = "float32",
                   compute_dtype: str = "float32") -> Language:
    nlp = spacy.blank("en")
    model = model_config_from_options(bilm.options)
    model["batch_size"] = batch_size
    model["compute_dtype"] = compute_dtype
    nlp.add_pipe("elmo", config={"model": model, "dtype": dtype})
    elmo = nlp.get_pipe("elmo")
    elmo.model.initialize()
    get_bilm(elmo.model).load_state_dict(bilm.state_dict())
    return nlp


def best_times(runs: Dict[str, Callable[[], None]], repeats: int) -> Dict[str, float]:
    """Best CPU time of each run, interleaved so that machine noise hits all alike."""
    times: Dict[str, List[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.process_time()
            run()
            times[name].append(time.process_time() - start)
    return {name: min(values) for name, values in times.items()}


def pipe_run(nlp: Language, sentences) -> Callable[[], None]:
    """nlp.pipe over ``sentences`` (pre-tokenized Docs), with every cache emptied."""
    model = nlp.get_pipe("elmo").model
    docs = [Doc(nlp.vocab, words=words) for words in sentences]

    def pipe() -> None:
        feature_cache(model).clear()  # each repeat runs the biLM
        cached_bilm(bilm_layer(model)).cache = TokenCache()  # and the char CNN, as embed does
        # spaCy's default pipe batch (1000 docs): the component sorts them by length and
        # runs the biLM on 64 at a time, as Embedder does with the whole list.
        for _ in nlp.pipe(docs, batch_size=1000):
            pass

    return pipe


def time_routes(nlp: Language, bilm: BiLM, sentences, batch_size: int, repeats: int) -> Dict:
    pipe = pipe_run(nlp, sentences)

    def embed() -> None:
        Embedder(bilm, batch_size=batch_size)(sentences)

    pipe()  # warm-up (allocator, packed weights, lazy imports)
    embed()
    return best_times({"pipe": pipe, "embed": embed}, repeats)


def memory_per_1000(nlp: Language, sentences, batch_size: int) -> Dict[str, float]:
    n_tokens = sum(map(len, sentences))
    docs = [Doc(nlp.vocab, words=words) for words in sentences]
    tracemalloc.start()
    kept = list(nlp.pipe(docs, batch_size=batch_size))  # streaming: one batch in flight
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    stored = sum(d._.elmo.layers.nbytes + d._.elmo.vectors.nbytes for d in kept)
    return {"stored_kb": stored / n_tokens, "peak_kb": peak / n_tokens}  # bytes/token = KB/1000


def compare_formats(args: argparse.Namespace, sentences, workdir: Path) -> None:
    """Each format's speed-up over float32 through the biLM, nlp.pipe and embed."""
    from spacy_elmo.embed_file import embed_file

    text = workdir / "sentences.txt"
    text.write_text("\n".join(" ".join(s) for s in sentences) + "\n", encoding="utf8")
    reference = bench_bilm(args.size, sentences)
    runs: Dict[str, Callable[[], None]] = {}
    dtypes = list(dict.fromkeys(["float32", *args.compute_dtype]))
    for dtype in dtypes:
        # one frozen biLM per format, the component's: the routes share its packed weights
        nlp = build_pipeline(reference, args.batch_size, compute_dtype=dtype)
        bilm = get_bilm(nlp.get_pipe("elmo").model)
        runs[f"bilm {dtype}"] = lambda b=bilm: embed_all(b, sentences, args.batch_size, 256, TokenCache())
        runs[f"nlp.pipe {dtype}"] = pipe_run(nlp, sentences)
        runs[f"embed {dtype}"] = lambda b=bilm, d=dtype: embed_file(
            text, workdir / f"{d}.hdf5", b, batch_size=args.batch_size, progress=False, force=True)
    for run in runs.values():  # warm-up: packed / reduced weights, allocator
        run()
    times = best_times(runs, args.repeats)
    n_tokens = sum(map(len, sentences))
    print(f"{args.size}: {len(sentences)} sentences, {n_tokens} tokens, batch {args.batch_size}, "
          f"1 thread, best CPU time of {args.repeats}; {cpu_name()}, torch {torch.__version__}")
    print("| route | format | tokens/s | x float32 | vs bilm's x float32 |\n|---|---|---:|---:|---:|")
    for dtype in dtypes:
        speedups = {route: times[f"{route} float32"] / times[f"{route} {dtype}"] for route in ROUTES}
        for route in ROUTES:
            print(f"| {route} | {dtype} | {n_tokens / times[f'{route} {dtype}']:.0f} "
                  f"| {speedups[route]:.3f} | {speedups[route] / speedups['bilm'] - 1:+.1%} |")


ROUTES = ("bilm", "nlp.pipe", "embed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="small", choices=["small", "medium", "original"])
    parser.add_argument("--limit", type=int, default=0, help="sentences (0: 300 small, 60 other)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64, help="sentences per biLM call")
    parser.add_argument("--conllu", type=Path, default=DEFAULT_CONLLU)
    parser.add_argument("--compute-dtype", nargs="*", default=[], choices=precision.COMPUTE_DTYPES,
                        help="compare these formats with float32 through the biLM, nlp.pipe and embed")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    limit = args.limit or (300 if args.size == "small" else 60)
    sentences = read_sentences(args.conllu, limit)
    if args.compute_dtype:
        with tempfile.TemporaryDirectory() as workdir:
            compare_formats(args, sentences, Path(workdir))
        return
    n_tokens = sum(map(len, sentences))
    # frozen, as the component's biLM: both routes keep their packed weights across repeats
    bilm = BiLM(published_options(args.size)).eval().requires_grad_(False)
    nlp = build_pipeline(bilm, args.batch_size)
    times = time_routes(nlp, bilm, sentences, args.batch_size, args.repeats)
    print(f"{args.size}: {len(sentences)} sentences, {n_tokens} tokens, batch {args.batch_size}, "
          f"1 thread, {platform.processor() or platform.machine()}, torch {torch.__version__}")
    print(f"  nlp.pipe    {n_tokens / times['pipe']:8.0f} tokens/s  ({times['pipe']:.2f} s)")
    print(f"  bilm.embed  {n_tokens / times['embed']:8.0f} tokens/s  ({times['embed']:.2f} s)")
    print(f"  overhead of the spaCy layer: {100 * (times['pipe'] / times['embed'] - 1):+.1f}%")
    for dtype in ("float32", "float16"):
        memory = memory_per_1000(build_pipeline(bilm, args.batch_size, dtype), sentences,
                                 args.batch_size)
        print(f"  {dtype}: stored {memory['stored_kb']:.1f} KB / 1000 tokens, "
              f"tracemalloc peak {memory['peak_kb']:.1f} KB / 1000 tokens")


if __name__ == "__main__":
    main()
