"""Write the results report: a markdown table and PNG plots (matplotlib).

Reads the pretraining log (JSONL), the LM perplexity JSON, the `spacy evaluate` JSON of
every downstream run (named TASK_VARIANT_sSEED.json), and the learned scalar-mix weights
of the trained ELMo pipelines.
"""
from pathlib import Path
from statistics import mean, stdev
from typing import Dict, List, Optional

import matplotlib
import srsly
import typer
from wasabi import msg

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import EngFormatter  # noqa: E402

# task -> the metrics reported for it (spacy evaluate keys)
TASKS = {"ner": ["ents_f"], "tagger_parser": ["tag_acc", "dep_las"]}
VARIANTS = {"baseline": "baseline", "spretrain": "baseline + spacy pretrain", "elmo": "ELMo"}


def main(
    lm_log: Path = typer.Argument(..., help="Pretraining log.jsonl"),
    lm_metrics: Path = typer.Argument(..., help="JSON of `python -m spacy_elmo evaluate`"),
    metrics_dir: Path = typer.Argument(..., help="Folder of TASK_VARIANT_sSEED.json files (recursive)"),
    output_dir: Path = typer.Argument(..., help="Where RESULTS.md and the PNGs go"),
    elmo_pipelines: List[Path] = typer.Option([], "--elmo-pipeline", help="Trained ELMo pipelines"),
    bilm_name: str = typer.Option("", help="Which biLM the downstream runs used"),
    ner_test: str = typer.Option("CoNLL-2003 testb", help="The NER test set, as the report names it"),
    baselines: Optional[Path] = typer.Option(None, help="JSON of scripts/lm_baselines.py (n-gram perplexities)"),
) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    scores, seconds = _collect_scores(metrics_dir)
    mixes = _collect_mixes(elmo_pipelines)
    log = list(srsly.read_jsonl(lm_log))
    lm = srsly.read_json(lm_metrics)
    ngrams = srsly.read_json(baselines) if baselines else {}
    sampled = _sampled_softmax(lm_log.parent)
    _plot_perplexity(log, lm, ngrams, sampled, output_dir / "pretrain_perplexity.png")
    _plot_scores(scores, output_dir / "downstream.png")
    _plot_mixes(mixes, output_dir / "mix_weights.png")
    lines = ["# Results", "", "## biLM pretraining", ""]
    if bilm_name:
        lines += [f"biLM: {bilm_name}", ""]
    lines += _lm_table(log, lm, sampled) + _ngram_table(lm, ngrams) + ["", "![perplexity](pretrain_perplexity.png)", "",
                                   "## Downstream (test sets)", ""]
    lines += [_score_note(metrics_dir, ner_test), ""] + _score_table(scores) + [""] + _time_table(seconds)
    lines += ["", "![scores](downstream.png)", "", "## Learned scalar mix", ""]
    for pipeline, components in mixes.items():
        for component, values in components.items():
            for value in values:
                weights = ", ".join(f"{w:.3f}" for w in value["weights"])
                lines.append(f"- {_run_name(pipeline)} / {component}: softmax(s) = [{weights}], "
                             f"gamma = {value['gamma']:.3f}")
    lines += ["", "![mix](mix_weights.png)", ""]
    (output_dir / "RESULTS.md").write_text("\n".join(lines), encoding="utf8")
    msg.good(f"Wrote {output_dir / 'RESULTS.md'}")


def _run_name(pipeline: str) -> str:
    """runs/x/training/ner/ner_elmo_s0/model-best -> ner_elmo_s0"""
    path = Path(pipeline)
    return path.parent.name if path.name.startswith("model-") else path.name


def _train_records(log: List[dict]) -> List[dict]:
    return [r for r in log if "event" not in r and "ppl" in r and "tokens" in r]


def _sampled_softmax(run_dir: Path) -> bool:
    """Whether the pretraining run in run_dir (config.cfg, vocab.txt) used the sampled
    softmax, whose training perplexities are not comparable with full-softmax ones."""
    from spacy.util import load_config

    config, vocab = run_dir / "config.cfg", run_dir / "vocab.txt"
    if not config.exists():
        return False
    training = load_config(config, interpolate=False)["training"]
    n_words = len(vocab.read_text(encoding="utf8").splitlines()) if vocab.exists() else 0
    return training.get("softmax") == "sampled" and training.get("n_samples", 0) < n_words


def _lm_table(log: List[dict], lm: dict, sampled: bool) -> List[str]:
    """Held-out perplexity (full softmax, `spacy_elmo evaluate`) and how the run went."""
    train = _train_records(log)
    last = train[-1] if train else {}
    train_ppl = "last train ppl" + (" (sampled softmax)" if sampled else "")
    lines = ["| held-out ppl forward | backward | average | steps | tokens seen | "
             f"{train_ppl} | training time |",
             "|---|---|---|---|---|---|---|"]
    cells = [f"{lm['forward']:.1f}", f"{lm['backward']:.1f}", f"{lm['average']:.1f}",
             str(last.get("step", "–")), f"{last['tokens']:,}" if last else "–",
             f"{last['ppl']:.1f}" if last else "–",
             f"{last['elapsed_s']:.0f} s" if "elapsed_s" in last else "–"]
    lines.append("| " + " | ".join(cells) + " |")
    if sampled:
        lines += ["", "Training perplexities are those of the sampled softmax (as bilm-tf's "
                  "train_perplexity), not comparable with the held-out ones (full softmax)."]
    return lines


def _collect_scores(metrics_dir: Path):
    """(task -> variant -> metric -> values over seeds, task -> variant -> training seconds)."""
    scores: Dict = {}
    seconds: Dict = {}
    for path in sorted(metrics_dir.glob("**/*_s*.json")):
        stem, _, _seed = path.stem.rpartition("_s")
        task, _, variant = stem.rpartition("_")
        if task not in TASKS or variant not in VARIANTS:
            continue
        data = srsly.read_json(path)
        for metric in TASKS[task]:
            scores.setdefault(task, {}).setdefault(variant, {}).setdefault(metric, []).append(
                100 * float(data[metric]))
        if "train_seconds" in data:
            seconds.setdefault(task, {}).setdefault(variant, []).append(float(data["train_seconds"]))
    return scores, seconds


def _collect_mixes(pipelines: List[Path]) -> Dict[str, dict]:
    if not pipelines:
        return {}
    import spacy

    from spacy_elmo.layers.listener import learned_mixes

    return {str(p): learned_mixes(spacy.load(p)) for p in pipelines}


def _fmt(values: List[float]) -> str:
    spread = f" ± {stdev(values):.2f}" if len(values) > 1 else ""
    return f"{mean(values):.2f}{spread} (n={len(values)})"


def _score_note(metrics_dir: Path, ner_test: str) -> str:
    steps: Dict[str, set] = {}
    for path in sorted(metrics_dir.glob("**/*_s*.json")):
        task = path.stem.rpartition("_s")[0].rpartition("_")[0]
        if task in TASKS:
            steps.setdefault(task, set()).add(srsly.read_json(path).get("max_steps"))
    budget = ", ".join(f"{task} {'/'.join(str(n) for n in sorted(v, key=str))} steps"
                       for task, v in steps.items())
    return (f"Scores in % on {ner_test} (ner) and EWT test (tagger_parser): mean ± standard "
            f"deviation over seeds (n = number of seeds). Every variant of a task trains for the "
            f"same number of steps ({budget}).")


def _score_table(scores) -> List[str]:
    lines = ["| task | metric | " + " | ".join(VARIANTS.values()) + " |",
             "|---|---|" + "---|" * len(VARIANTS)]
    for task, metrics in TASKS.items():
        for metric in metrics:
            cells = [_fmt(scores[task][v][metric]) if v in scores.get(task, {}) else "–"
                     for v in VARIANTS]
            lines.append(f"| {task} | {metric} | " + " | ".join(cells) + " |")
    return lines


def _time_table(seconds) -> List[str]:
    """Mean wall time of `spacy train` (initialisation, training, dev evaluations)."""
    if not seconds:
        return []
    lines = ["Training wall time (seconds, mean over seeds):", "",
             "| task | " + " | ".join(VARIANTS.values()) + " |", "|---|" + "---|" * len(VARIANTS)]
    for task in TASKS:
        cells = [f"{mean(seconds[task][v]):.0f}" if v in seconds.get(task, {}) else "–"
                 for v in VARIANTS]
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    return lines


NGRAMS = {"unigram": "unigram (add-one)", "kn_bigram": "Kneser-Ney bigram",
          "kn_trigram": "Kneser-Ney trigram"}


def _ngram_table(lm: dict, ngrams: dict) -> List[str]:
    """The biLM's held-out perplexity next to n-gram models on the same targets."""
    if not ngrams:
        return []
    lines = ["", "| held-out ppl (average of both directions) | value |", "|---|---|",
             f"| biLM (each line from the initial state) | {lm['average']:.1f} |"]
    lines += [f"| {label} | {ngrams[key]:.1f} |" for key, label in NGRAMS.items() if key in ngrams]
    return lines


def _plot_perplexity(log: List[dict], lm: dict, ngrams: dict, sampled: bool, out: Path) -> None:
    train = [(r["tokens"], r["ppl"]) for r in _train_records(log)]
    tokens_at = {r["step"]: r["tokens"] for r in _train_records(log)}
    dev = [(tokens_at[r["step"]], r["dev_average"]) for r in log
           if r.get("event") == "eval" and "dev_average" in r and r.get("step") in tokens_at]
    fig, ax = plt.subplots(figsize=(6, 4))
    if train:
        ax.plot(*zip(*train), label="train batches" + (" (sampled softmax)" if sampled else ""))
    if dev:
        ax.plot(*zip(*dev), "o-", label="held-out, during training")
    if train:
        ax.plot([train[-1][0]], [lm["average"]], "s", color="C3",
                label=f"held-out, final model ({lm['average']:.1f})")
    for k, (key, label) in enumerate(NGRAMS.items()):
        if key in ngrams:
            ax.axhline(ngrams[key], color=f"C{4 + k}", linestyle="--",
                       label=f"{label}, held-out ({ngrams[key]:.1f})")
    ax.xaxis.set_major_formatter(EngFormatter(sep=""))  # 20k, 1.5M: no overlapping labels
    ax.set_xlabel("tokens seen (per direction)")
    ax.set_ylabel("perplexity (mean of both directions)")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def _plot_scores(scores, out: Path) -> None:
    """Grouped bars: mean test score per task metric and variant, the spread over seeds as
    error bars; a missing run has no bar."""
    labels = [f"{task}\n{metric}" for task, metrics in TASKS.items() for metric in metrics]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    width = 0.8 / len(VARIANTS)
    for k, (variant, name) in enumerate(VARIANTS.items()):
        runs = [scores.get(task, {}).get(variant, {}).get(metric, [])
                for task, metrics in TASKS.items() for metric in metrics]
        means = [mean(values) if values else float("nan") for values in runs]
        spreads = [stdev(values) if len(values) > 1 else 0.0 for values in runs]
        bars = ax.bar([i + k * width for i in range(len(labels))], means, width,
                      yerr=spreads if any(spreads) else None, capsize=3, label=name)
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=2)
    ax.set_xticks([i + width * (len(VARIANTS) - 1) / 2 for i in range(len(labels))])
    ax.set_xticklabels(labels)
    ax.set_ylabel("test score (%)")
    ax.set_ylim(0, 105)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=len(VARIANTS), fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def _plot_mixes(mixes, out: Path) -> None:
    """softmax(s_j) per biLM layer of every learned mix, against the uniform mix."""
    fig, ax = plt.subplots(figsize=(6, 4))
    n_layers, top = 0, 0.0
    for pipeline, components in mixes.items():
        for component, values in components.items():
            for value in values:
                weights = value["weights"]
                n_layers, top = max(n_layers, len(weights)), max(top, *weights)
                label = f"{_run_name(pipeline)} / {component} (gamma {value['gamma']:.2f})"
                ax.plot(range(len(weights)), weights, "o-", label=label)
    if n_layers:
        ax.axhline(1.0 / n_layers, color="grey", linestyle="--", linewidth=1, label="uniform")
        ax.set_xticks(range(n_layers))
        ax.set_ylim(0, min(1.0, max(0.5, 1.2 * top)))
        ax.legend(fontsize=7)
    ax.set_xlabel("biLM layer (0 = token encoder)")
    ax.set_ylabel("softmax(s_j)")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    typer.run(main)
