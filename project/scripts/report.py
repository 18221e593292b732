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
# ELMo runs with another biLM are named TASK_elmo-LABEL_sSEED (train_eval.py --label LABEL)


def _known(variant: str) -> bool:
    base, _, label = variant.partition("-")
    return base in VARIANTS and (not label or base == "elmo")


def _name(variant: str) -> str:
    base, _, label = variant.partition("-")
    return VARIANTS[base] + (f" ({label} biLM)" if label else "")


def _order(variants) -> List[str]:
    """The variants found, in VARIANTS order, labelled ELMo runs after plain ELMo."""
    return sorted(set(variants), key=lambda v: (list(VARIANTS).index(v.partition("-")[0]), v))


def _variants_of(by_task: Dict[str, dict]) -> List[str]:
    """The variants of a task -> variant -> ... mapping, over every task, in order."""
    return _order(v for found in by_task.values() for v in found)


def main(
    lm_log: Path = typer.Argument(..., help="Pretraining log.jsonl"),
    lm_metrics: Path = typer.Argument(..., help="JSON of `python -m spacy_elmo evaluate`"),
    metrics_dir: Path = typer.Argument(..., help="Folder of TASK_VARIANT_sSEED.json files (recursive)"),
    output_dir: Path = typer.Argument(..., help="Where RESULTS.md and the PNGs go"),
    elmo_pipelines: List[Path] = typer.Option([], "--elmo-pipeline", help="Trained ELMo pipelines"),
    bilm_name: str = typer.Option("", help="Which biLM the downstream runs used"),
    ner_test: str = typer.Option("CoNLL-2003 testb", help="The NER test set, as the report names it"),
    baselines: Optional[Path] = typer.Option(None, help="JSON of scripts/lm_baselines.py (n-gram perplexities)"),
    adapt_logs: List[Path] = typer.Option([], "--adapt-log", help="log.jsonl of a `spacy_elmo adapt` run"),
    note: str = typer.Option("", "--note", help="A paragraph put under the title (e.g. what the demo's scores mean)"),
) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    runs = _collect_runs(metrics_dir)
    scores, seconds = _collect_scores(runs)
    mixes = {_run_name(key): value  # one entry per run, recorded or loaded
             for key, value in {**_collect_mixes(elmo_pipelines), **_recorded_mixes(runs)}.items()}
    log = list(srsly.read_jsonl(lm_log))
    lm = srsly.read_json(lm_metrics)
    ngrams = srsly.read_json(baselines) if baselines else {}
    sampled = _sampled_softmax(lm_log.parent)
    _plot_perplexity(log, lm, ngrams, sampled, output_dir / "pretrain_perplexity.png")
    _plot_scores(scores, output_dir / "downstream.png")
    _plot_dev_curves(runs, output_dir / "dev_curves.png")
    _plot_mixes(mixes, output_dir / "mix_weights.png")
    lines = ["# Results", ""] + ([f"**{note}**", ""] if note else []) + ["## biLM pretraining", ""]
    if bilm_name:
        lines += [f"biLM: {bilm_name}", ""]
    lines += _lm_table(log, lm, sampled) + _ngram_table(lm, ngrams) + _adapt_table(adapt_logs) + ["", "![perplexity](pretrain_perplexity.png)", "",
                                   "## Downstream (test sets)", ""]
    lines += [_score_note(runs, ner_test), ""] + _score_table(scores) + [""]
    lines += _target_table(scores) + [""] + _time_table(seconds, runs)
    lines += ["", "![scores](downstream.png)", "", "Every run:", ""] + _run_table(runs)
    lines += ["", "![dev scores during training](dev_curves.png)", "", "## Learned scalar mix", ""]
    for pipeline, components in mixes.items():
        for component, values in components.items():
            for value in values:
                weights = ", ".join(f"{w:.3f}" for w in value["weights"])
                lines.append(f"- {pipeline} / {component}: softmax(s) = [{weights}], "
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


def _adapt_table(logs: List[Path]) -> List[str]:
    """One row per adapted biLM (`spacy_elmo adapt`): what it read and its held-out
    perplexity on the task's dev words before and after."""
    rows = []
    for path in logs:
        records = list(srsly.read_jsonl(path))
        done = next((r for r in reversed(records) if r.get("event") == "adapted"), None)
        if done is None:
            continue
        steps = max((r.get("step", 0) for r in records), default=0)
        ppl = [f"{done[k]['average']:.1f}" if done.get(k) else "–" for k in ("dev_before", "dev_after")]
        train = done["train"]
        rows.append(f"| {path.parent.parent.name} | {train['sentences']:,} sentences, "
                    f"{train['words']:,} words | {steps:,} ({done['warmup_steps']:,} softmax "
                    f"warm-up) | {ppl[0]} | {ppl[1]} |")
    if not rows:
        return []
    return ["", "The biLM adapted to each task's training words (`python -m spacy_elmo adapt`), "
            "its perplexity on the task's dev words before and after:", "",
            "| adapted biLM | task words | steps | dev ppl before | dev ppl after |",
            "|---|---|---|---|---|", *rows]


def _collect_runs(metrics_dir: Path) -> List[dict]:
    """Every run's metrics (TASK_VARIANT_sSEED.json, recursive) with its name, task, variant,
    seed and the dev scores of its training log (TASK_VARIANT_sSEED.train_log.jsonl beside
    it, see train_eval.py; empty if absent)."""
    runs = []
    for path in sorted(metrics_dir.glob("**/*_s*.json")):
        stem, _, seed = path.stem.rpartition("_s")
        task, _, variant = stem.rpartition("_")
        if task not in TASKS or not _known(variant) or not seed.isdigit():
            continue
        log = path.with_name(path.stem + ".train_log.jsonl")
        runs.append({"name": path.stem, "task": task, "variant": variant, "seed": int(seed),
                     "metrics": srsly.read_json(path),
                     "log": list(srsly.read_jsonl(log)) if log.is_file() else []})
    return runs


def _collect_scores(runs: List[dict]):
    """(task -> variant -> metric -> values over seeds, task -> variant -> training seconds)."""
    scores: Dict = {}
    seconds: Dict = {}
    for run in runs:
        task, variant, data = run["task"], run["variant"], run["metrics"]
        for metric in TASKS[task]:
            scores.setdefault(task, {}).setdefault(variant, {}).setdefault(metric, []).append(
                100 * float(data[metric]))
        if "train_seconds" in data:
            seconds.setdefault(task, {}).setdefault(variant, []).append(float(data["train_seconds"]))
    return scores, seconds


def _recorded_mixes(runs: List[dict]) -> Dict[str, dict]:
    """The learned mixes train_eval.py recorded in the ELMo runs' metrics."""
    return {run["name"]: run["metrics"]["mixes"] for run in runs if run["metrics"].get("mixes")}


def _collect_mixes(pipelines: List[Path]) -> Dict[str, dict]:
    if not pipelines:
        return {}
    import spacy

    from spacy_elmo.layers.listener import learned_mixes

    return {str(p): learned_mixes(spacy.load(p)) for p in pipelines}


def _fmt(values: List[float]) -> str:
    spread = f" ± {stdev(values):.2f}" if len(values) > 1 else ""
    return f"{mean(values):.2f}{spread} (n={len(values)})"


def _score_note(runs: List[dict], ner_test: str) -> str:
    budgets: Dict[str, set] = {}
    for run in runs:
        data = run["metrics"]
        budget = f"{data.get('max_steps')} steps"
        if data.get("patience"):
            budget = f"at most {data.get('max_steps')} steps, patience {data['patience']}"
        budgets.setdefault(run["task"], set()).add(budget)
    budget = "; ".join(f"{task}: {' / '.join(sorted(v))}" for task, v in budgets.items())
    return (f"Scores in % on {ner_test} (ner) and EWT test (tagger_parser): mean ± standard "
            f"deviation over seeds (n = number of seeds). Every variant of a task has the same "
            f"step budget ({budget}); the pipeline scored is the one with the best dev score.")


def _score_table(scores) -> List[str]:
    variants = _variants_of(scores)
    lines = ["| task | metric | " + " | ".join(map(_name, variants)) + " |",
             "|---|---|" + "---|" * len(variants)]
    for task, metrics in TASKS.items():
        for metric in metrics:
            cells = [_fmt(scores[task][v][metric]) if v in scores.get(task, {}) else "–"
                     for v in variants]
            lines.append(f"| {task} | {metric} | " + " | ".join(cells) + " |")
    return lines


def _time_table(seconds, runs: List[dict]) -> List[str]:
    """Mean wall time of `spacy train` (initialisation, training, dev evaluations) and per
    step trained, with each variant's time per step as a multiple of the baseline's."""
    if not seconds:
        return []
    per_step = _seconds_per_step(runs)
    variants = _variants_of(seconds)
    names = [_name(v) for v in variants]
    lines = ["Training wall time: seconds per run (mean over seeds); seconds per step trained "
             "(wall time / steps, mean over seeds) and its ratio to the baseline's:", "",
             "| task | " + " | ".join(names) + " | s/step " + " | s/step ".join(names) + " |",
             "|---|" + "---|" * 2 * len(variants)]
    for task in TASKS:
        cells = [f"{mean(seconds[task][v]):.0f}" if v in seconds.get(task, {}) else "–"
                 for v in variants]
        base = per_step.get(task, {}).get("baseline")
        for variant in variants:
            value = per_step.get(task, {}).get(variant)
            ratio = f" ({value / base:.2f}x)" if value and base else ""
            cells.append(f"{value:.3f}{ratio}" if value else "–")
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    return lines


def _seconds_per_step(runs: List[dict]) -> Dict[str, Dict[str, float]]:
    values: Dict = {}
    for run in runs:
        data = run["metrics"]
        if data.get("steps") and "train_seconds" in data:
            values.setdefault(run["task"], {}).setdefault(run["variant"], []).append(
                float(data["train_seconds"]) / int(data["steps"]))
    return {task: {v: mean(x) for v, x in found.items()} for task, found in values.items()}


# task -> the test metric on which ELMo must beat both other variants
TARGETS = {"ner": "ents_f", "tagger_parser": "dep_las"}


def target_margins(scores) -> Dict[str, Dict[str, dict]]:
    """task -> ELMo variant -> its check, for each task of TARGETS where the baseline and
    the spretrain variant were measured, and each ELMo variant measured ("elmo" and any
    "elmo-LABEL"): the ELMo variant's mean minus the best non-ELMo variant's ("margin"),
    against twice the largest standard deviation over seeds of these variants ("needed",
    None with fewer than 2 seeds in any); "met" when margin > needed."""
    found: Dict[str, Dict[str, dict]] = {}
    others = [v for v in VARIANTS if v != "elmo"]
    for task, metric in TARGETS.items():
        measured = {v: found_v[metric] for v, found_v in scores.get(task, {}).items()
                    if found_v.get(metric)}
        if not all(v in measured for v in others):
            continue
        best_other = max(others, key=lambda v: mean(measured[v]))
        for elmo in _order(v for v in measured if v.partition("-")[0] == "elmo"):
            compared = [measured[v] for v in others + [elmo]]
            margin = mean(measured[elmo]) - mean(measured[best_other])
            needed = (2 * max(stdev(values) for values in compared)
                      if all(len(values) > 1 for values in compared) else None)
            found.setdefault(task, {})[elmo] = {
                "metric": metric, "elmo": mean(measured[elmo]), "best_other": best_other,
                "other": mean(measured[best_other]), "margin": margin, "needed": needed,
                "met": needed is not None and margin > needed}
    return found


def _target_table(scores) -> List[str]:
    margins = target_margins(scores)
    if not margins:
        return []
    lines = ["Target: ELMo above both other variants by more than twice the largest standard "
             "deviation over seeds (of the variants compared):", "",
             "| task | metric | ELMo variant | its mean | best other variant | margin | "
             "2 x largest std | target |",
             "|---|---|---|---|---|---|---|---|"]
    for task, by_elmo in margins.items():
        for elmo, found in by_elmo.items():
            needed = f"{found['needed']:.2f}" if found["needed"] is not None else "– (one seed)"
            verdict = "met" if found["met"] else "not met"
            lines.append(f"| {task} | {found['metric']} | {_name(elmo)} | {found['elmo']:.2f} | "
                         f"{found['other']:.2f} ({_name(found['best_other'])}) | "
                         f"{found['margin']:+.2f} | {needed} | {verdict} |")
    return lines


def _run_table(runs: List[dict]) -> List[str]:
    metrics = sorted({m for found in TASKS.values() for m in found})
    lines = ["| run | steps | stopped by | train s | " + " | ".join(metrics) + " |",
             "|---|---|---|---|" + "---|" * len(metrics)]
    order = _order(r["variant"] for r in runs)
    for run in sorted(runs, key=lambda r: (r["task"], order.index(r["variant"]), r["seed"])):
        data = run["metrics"]
        cells = [run["name"], str(data.get("steps", "–")), str(data.get("stopped", "–")),
                 f"{data['train_seconds']:.0f}" if "train_seconds" in data else "–"]
        cells += [f"{100 * data[m]:.2f}" if m in TASKS[run["task"]] else "" for m in metrics]
        lines.append("| " + " | ".join(cells) + " |")
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
    """One panel per task metric: the mean test score of each variant as a bar, the standard
    deviation over seeds as an error bar and each seed as a dot; the y axis spans the
    scores, so differences of a point are visible. A missing run has no bar."""
    panels = [(task, metric) for task, metrics in TASKS.items() for metric in metrics]
    variants = _variants_of(scores)
    fig, axes = plt.subplots(1, len(panels), figsize=(max(3.2, 1.1 * len(variants)) * len(panels), 4))
    for ax, (task, metric) in zip(axes, panels):
        found = [(k, _name(variant), scores.get(task, {}).get(variant, {}).get(metric, []))
                 for k, variant in enumerate(variants)]
        values = [x for _, _, seeds in found for x in seeds]
        for k, name, seeds in found:
            if not seeds:
                continue
            spread = stdev(seeds) if len(seeds) > 1 else 0.0
            bars = ax.bar([k], [mean(seeds)], 0.7, yerr=[spread] if spread else None, capsize=4,
                          color=f"C{k}", label=name)
            ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=2)
            ax.plot([k] * len(seeds), seeds, "k.", markersize=4)
        if values:
            low, high = min(values), max(values)
            pad = max(1.0, 0.5 * (high - low))
            ax.set_ylim(max(0.0, low - 2 * pad), min(100.0, high + pad))
        ax.set_xticks(range(len(variants)))
        ax.set_xticklabels([_name(v).replace(" + ", "\n+ ").replace(" (", "\n(") for v in variants],
                           fontsize=7)
        ax.set_title(f"{task}: {metric}", fontsize=9)
    axes[0].set_ylabel("test score (%)")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def _plot_dev_curves(runs: List[dict], out: Path) -> None:
    """The dev score spaCy logged at every evaluation (its weighted `score`) against the
    step, one line per run, one panel per task: where each run levelled off and stopped."""
    tasks = [task for task in TASKS if any(r["task"] == task and r["log"] for r in runs)]
    order = _order(r["variant"] for r in runs)
    fig, axes = plt.subplots(1, max(1, len(tasks)), figsize=(5 * max(1, len(tasks)), 4),
                             squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for run in runs:
            if run["task"] != task or not run["log"]:
                continue
            points = [(r["step"], 100 * r["score"]) for r in run["log"] if "score" in r]
            k = order.index(run["variant"])
            ax.plot(*zip(*points), color=f"C{k}", linewidth=1,
                    linestyle=("-", "--", ":", "-.")[run["seed"] % 4],
                    label=f"{_name(run['variant'])}, seed {run['seed']}")
        scored = [100 * r["score"] for run in runs if run["task"] == task for r in run["log"]
                  if "score" in r and r["step"] > 0]
        if scored:
            ax.set_ylim(max(0.0, sorted(scored)[len(scored) // 10] - 5), min(100.0, max(scored) + 1))
        ax.set_title(f"{task}: dev score during training", fontsize=9)
        ax.set_xlabel("step")
        ax.legend(fontsize=6)
    axes[0][0].set_ylabel("dev score (spaCy's weighted score, %)")
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
                label = f"{pipeline} / {component} (gamma {value['gamma']:.2f})"
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
