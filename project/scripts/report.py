"""Write the results report: a markdown table and PNG plots (matplotlib).

Reads the pretraining log (JSONL), the LM perplexity JSON, the `spacy evaluate` JSON of
every downstream run (named TASK_VARIANT_sSEED.json), and the learned scalar-mix weights
of the trained ELMo pipelines.
"""
import json
from pathlib import Path
from statistics import mean, stdev
from typing import Dict, List

import matplotlib
import srsly
import typer
from wasabi import msg

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# task -> the metrics reported for it (spacy evaluate keys)
TASKS = {"ner": ["ents_f"], "tagger_parser": ["tag_acc", "dep_las"]}
VARIANTS = {"baseline": "baseline", "spretrain": "baseline + spacy pretrain", "elmo": "ELMo"}


def main(
    lm_log: Path = typer.Argument(..., help="Pretraining log.jsonl"),
    lm_metrics: Path = typer.Argument(..., help="JSON of `python -m spacy_elmo evaluate`"),
    metrics_dir: Path = typer.Argument(..., help="Folder of TASK_VARIANT_sSEED.json files"),
    output_dir: Path = typer.Argument(..., help="Where RESULTS.md and the PNGs go"),
    elmo_pipelines: List[Path] = typer.Option([], "--elmo-pipeline", help="Trained ELMo pipelines (mix weights)"),
    bilm_name: str = typer.Option("", help="Which biLM the downstream runs used"),
) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    scores = _collect_scores(metrics_dir)
    mixes = _collect_mixes(elmo_pipelines)
    _plot_perplexity(lm_log, output_dir / "pretrain_perplexity.png")
    _plot_scores(scores, output_dir / "downstream.png")
    _plot_mixes(mixes, output_dir / "mix_weights.png")
    lines = ["# Results", "", "## biLM pretraining", ""]
    lm = srsly.read_json(lm_metrics)
    lines += ["| forward ppl | backward ppl | average ppl |", "|---|---|---|",
              f"| {lm['forward']:.1f} | {lm['backward']:.1f} | {lm['average']:.1f} |", "",
              "![perplexity](pretrain_perplexity.png)", "", "## Downstream (test sets)", ""]
    if bilm_name:
        lines += [f"biLM: {bilm_name}", ""]
    lines += _score_table(scores) + ["", "![scores](downstream.png)", "", "## Learned scalar mix", ""]
    for pipeline, components in mixes.items():
        for component, values in components.items():
            for value in values:
                weights = ", ".join(f"{w:.3f}" for w in value["weights"])
                lines.append(f"- {pipeline} / {component}: softmax(s) = [{weights}], gamma = {value['gamma']:.3f}")
    lines += ["", "![mix](mix_weights.png)", ""]
    (output_dir / "RESULTS.md").write_text("\n".join(lines), encoding="utf8")
    msg.good(f"Wrote {output_dir / 'RESULTS.md'}")


def _collect_scores(metrics_dir: Path) -> Dict[str, Dict[str, Dict[str, List[float]]]]:
    """task -> variant -> metric -> values over seeds."""
    scores: Dict = {}
    for path in sorted(metrics_dir.glob("*_s*.json")):
        stem, _, _seed = path.stem.rpartition("_s")
        task, _, variant = stem.rpartition("_")
        if task not in TASKS or variant not in VARIANTS:
            continue
        data = srsly.read_json(path)
        for metric in TASKS[task]:
            scores.setdefault(task, {}).setdefault(variant, {}).setdefault(metric, []).append(
                100 * float(data[metric]))
    return scores


def _collect_mixes(pipelines: List[Path]) -> Dict[str, dict]:
    if not pipelines:
        return {}
    import spacy

    from spacy_elmo.layers.listener import learned_mixes

    return {str(p): learned_mixes(spacy.load(p)) for p in pipelines}


def _fmt(values: List[float]) -> str:
    spread = f" ± {stdev(values):.2f}" if len(values) > 1 else ""
    return f"{mean(values):.2f}{spread} (n={len(values)})"


def _score_table(scores) -> List[str]:
    lines = ["| task | metric | " + " | ".join(VARIANTS.values()) + " |",
             "|---|---|" + "---|" * len(VARIANTS)]
    for task, metrics in TASKS.items():
        for metric in metrics:
            cells = [_fmt(scores[task][v][metric]) if v in scores.get(task, {}) else "–"
                     for v in VARIANTS]
            lines.append(f"| {task} | {metric} | " + " | ".join(cells) + " |")
    return lines


def _plot_perplexity(log: Path, out: Path) -> None:
    train, dev = [], []
    for record in srsly.read_jsonl(log):
        if "tokens" in record and "perplexity" in record:
            train.append((record["tokens"], record["perplexity"]))
        if record.get("event") == "eval" and "dev_average" in record:
            dev.append((record.get("tokens", record["step"]), record["dev_average"]))
    fig, ax = plt.subplots(figsize=(6, 4))
    if train:
        ax.plot(*zip(*train), label="train (batch)")
    if dev:
        ax.plot(*zip(*dev), "o-", label="held-out")
    ax.set_xlabel("tokens seen")
    ax.set_ylabel("perplexity (average of both directions)")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def _plot_scores(scores, out: Path) -> None:
    labels, groups = [], {v: [] for v in VARIANTS}
    for task, metrics in TASKS.items():
        for metric in metrics:
            labels.append(f"{task}\n{metric}")
            for v in VARIANTS:
                values = scores.get(task, {}).get(v, {}).get(metric, [])
                groups[v].append(mean(values) if values else 0.0)
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / len(VARIANTS)
    for k, (variant, values) in enumerate(groups.items()):
        ax.bar([i + k * width for i in range(len(labels))], values, width, label=VARIANTS[variant])
    ax.set_xticks([i + width for i in range(len(labels))])
    ax.set_xticklabels(labels)
    ax.set_ylabel("score (test)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def _plot_mixes(mixes, out: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    for pipeline, components in mixes.items():
        for component, values in components.items():
            for value in values:
                label = f"{Path(pipeline).parent.name}/{component}"
                ax.plot(range(len(value["weights"])), value["weights"], "o-", label=label)
    ax.set_xlabel("biLM layer (0 = token encoder)")
    ax.set_ylabel("softmax(s_j)")
    if mixes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    typer.run(main)
