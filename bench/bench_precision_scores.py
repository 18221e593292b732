"""Task scores with the biLM in each ``compute_dtype``, against float32, in one run.

Loads a trained pipeline with an ELMo component (the project's EWT tagger + parser,
``tagger_parser_elmo_s0/model-best``) once per format, with
``[components.elmo.model] compute_dtype`` set at load time, scores its test set with
spaCy's scorer (``nlp.evaluate``, as ``spacy evaluate`` does) and prints each score and
its difference to float32's. The downstream layers were trained on float32 features and
are not changed. Where the CPU has no native bfloat16 it is emulated
(``precision.EMULATE_BF16``: float32 products of bfloat16-rounded operands, rounded to
bfloat16: the numbers of a native run, slowly), so the check runs on any machine.

    python bench/bench_precision_scores.py PIPELINE TEST.spacy [--dtypes int8 auto bfloat16]
        [--output scores.json]
"""
import argparse
import time
from pathlib import Path
from typing import Dict, List

import spacy
import srsly
import torch
from spacy.tokens import DocBin
from spacy.training import Example

from bench_bilm import cpu_name
from spacy_elmo.nn import precision

SCORES = ("dep_las", "dep_uas", "tag_acc", "pos_acc", "ents_f")


def score(pipeline: Path, test: Path, dtype: str) -> Dict[str, float]:
    """The pipeline's scores on ``test`` with its biLM in ``dtype``."""
    overrides = {"components": {"elmo": {"model": {"compute_dtype": dtype}}}}
    nlp = spacy.load(pipeline, config=overrides)
    docs = list(DocBin().from_disk(test).get_docs(nlp.vocab))
    examples = [Example(nlp.make_doc(doc.text), doc) for doc in docs]
    start = time.process_time()
    scores = nlp.evaluate(examples)
    found = {k: float(scores[k]) for k in SCORES if scores.get(k) is not None}
    return {**found, "cpu_s": time.process_time() - start}


def main(argv: List[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pipeline", type=Path)
    parser.add_argument("test", type=Path)
    parser.add_argument("--dtypes", nargs="+", default=["int8", "auto", "bfloat16"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    native = precision.bf16_native(torch.device("cpu"))
    precision.EMULATE_BF16 = not native
    print(f"CPU: {cpu_name()}; torch {torch.__version__}; bfloat16 "
          f"{'native' if native else 'emulated (no native bfloat16 on this CPU)'}")
    results = {"float32": score(args.pipeline, args.test, "float32")}
    for dtype in args.dtypes:
        results[dtype] = score(args.pipeline, args.test, dtype)
    reference = results["float32"]
    keys = [k for k in SCORES if k in reference]
    print("| format | " + " | ".join(keys) + " | " + " | ".join(f"{k} - float32" for k in keys)
          + " | CPU s |")
    print("|---" * (2 * len(keys) + 2) + "|")
    for dtype, found in results.items():
        values = " | ".join(f"{100 * found[k]:.2f}" for k in keys)
        deltas = " | ".join(f"{100 * (found[k] - reference[k]):+.2f}" for k in keys)
        print(f"| {dtype} | {values} | {deltas} | {found['cpu_s']:.0f} |")
    if args.output is not None:
        srsly.write_json(args.output, {"pipeline": str(args.pipeline), "test": str(args.test),
                                       "cpu": cpu_name(), "bf16_native": native,
                                       "scores": results})


if __name__ == "__main__":
    main()
