"""Adapt a biLM to a task's text in one call: the ELMo paper's recipe (appendix A.1).

``adapt(model, train, output)`` continues pretraining the biLM in ``model`` on the words
of a task's training data (``task_text.py``) and writes a spaCy pipeline with the
adapted biLM. It is a pretraining run (``train.pretrain``), set up from the model:

- [model] is the model's own dimensions; [corpus] and [training] are those of the run
  that made it when the model is a pretraining output (its config.cfg), else the
  defaults; max_steps is ``steps``, max_minutes and eval_every are 0; the text is
  already split into words (tokenizer "whitespace"). Config overrides come last.
- The softmax: a pretraining output's is kept with its vocabulary. A model without one
  (options.json + weights.hdf5, a pipeline) gets a new softmax over the task's words,
  trained alone first while the biLM is frozen (``training.frozen_bilm_steps``, sized
  by ``softmax_warmup_steps``): the gradients of a random softmax would otherwise move
  the biLM away from what it learnt before the softmax means anything.
- With a dev text, the held-out perplexity before (the model as given, with its
  softmax or the warmed-up one) and after, in the log and the result; and the number of
  steps is chosen on it: training goes one pass over the task's words at a time, scoring
  the dev text after each, until ``patience`` passes in a row do not lower its
  perplexity (or ``steps`` are spent); OUTPUT is the pipeline of the best pass. A small
  task's words are learnt by heart long before 1,000 steps (EWT's 21,727 words: dev
  perplexity 361.8 -> 145.4 after 5 passes, 135 steps; 2,676.8 after 1,000).

OUTPUT/                    the pipeline (spacy.load, --paths.elmo): config.cfg, elmo/, ...
                           (a pipeline MODEL's own, tokenizer and settings, new weights)
OUTPUT/run/                the pretraining run (checkpoint.py's layout; final/pipeline is
                           OUTPUT itself), with corpus/train.txt (and dev.txt): the words
"""
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import spacy
import srsly
from confection import Config
from spacy.language import Language

from ..errors import Errors
from ..layers import get_bilm
from ..output_file import append_line, write_errors
from ..pipeline_files import bilm_from_directory, elmo_pipeline
from . import checkpoint as ckpt
from .config import DEFAULT_CONFIG, PretrainSettings, TrainingSettings, model_section
from .evaluate import evaluate
from .corpus import Tokenizer
from .init_model import PIPELINE_KIND, InitModel, read_model
from .run_folder import run_lock
from .task_text import TextStats, write_task_text
from .train import pretrain

RUN_DIR, TEXT_DIR = "run", "corpus"
DEFAULT_STEPS = 1000
DEFAULT_PATIENCE = 2
# Source [training] settings a new adaptation does not inherit (its own budget and evals)
_RESET = {"max_minutes": 0, "eval_every": 0, "device": "auto"}
PathLike = Union[str, Path]


@dataclass
class Adaptation:
    """What ``adapt`` did. pipeline: OUTPUT. run_dir: the pretraining run. train / dev:
    the words read. softmax: "kept" or "new". warmup_steps: steps of the softmax
    warm-up (0 when kept). before / after: held-out perplexities
    ({"forward", "backward", "average", "n_tokens"}), None without a dev text; after is
    the best pass's, best_step its last step (OUTPUT's weights)."""

    pipeline: Path
    run_dir: Path
    train: TextStats
    dev: Optional[TextStats]
    softmax: str
    warmup_steps: int
    before: Optional[Dict[str, float]]
    after: Optional[Dict[str, float]]
    best_step: Optional[int] = None


def adapt(model: PathLike, train: PathLike, output: PathLike, steps: int = DEFAULT_STEPS,
          dev: Optional[PathLike] = None, overrides: Optional[Dict[str, Any]] = None,
          resume: bool = False, force: bool = False, silent: bool = False,
          patience: int = DEFAULT_PATIENCE) -> Adaptation:
    """Adapt the biLM in ``model`` to the words of ``train``; the pipeline goes to ``output``.

    model: a pipeline with an "elmo" component, a pretraining output (or its final/), a
        folder with options.json + weights.hdf5, or an ELMoForManyLangs model folder.
    train / dev: .spacy files, text files, or folders of them (``task_text.task_files``).
    steps (int): optimizer steps in all, the softmax warm-up included (at most, with dev).
    patience (int): with dev, passes over the task's words without a lower dev
        perplexity before training stops.
    overrides: dotted pretraining settings ("training.batch_size": 32), applied last.
    resume / force / silent: as ``pretrain``'s (a run in OUTPUT/run continues, or is
        replaced; nothing outside the run's files and OUTPUT's pipeline is deleted).
    """
    model, train, output = Path(model), Path(train), Path(output)
    dev = Path(dev) if dev is not None else None
    if steps < 1:
        raise ValueError(Errors.E369.format(steps=steps))
    if patience < 1:
        raise ValueError(Errors.E371.format(patience=patience))
    check_output(output, {"MODEL": model, "TRAIN": train, "--dev": dev})
    source = read_model(model, Errors.E364)
    run = output / RUN_DIR
    found = ckpt.existing_run(run)
    if found and not (resume or force):  # as pretrain refuses it, before anything is written
        raise ValueError(Errors.E310.format(path=run, found=", ".join(found)))
    overrides = dict(overrides or {})
    settings = PretrainSettings.from_config(_config(source, run, steps, dev, overrides))
    created, text = not output.exists(), None
    try:
        text = _write_text(train, dev, run, settings.corpus.lang, source)
        warmup = _warmup(source, text[0], settings, steps, overrides, run if resume else None)
        if dev is None:
            config = _config(source, run, steps, dev, overrides, warmup)
            final, best = pretrain(config, run, resume=resume, force=force, silent=silent), None
        else:
            passes = _Passes(source, run, output, dev, overrides, warmup, steps, patience)
            final, best = passes.train(text[0], resume, force, silent)
    except BaseException:
        if not found and ckpt.latest_checkpoint(run) is None:  # a new run leaves nothing
            _remove_new(output, created, wrote_text=text is not None)
        raise
    return _finish(source, run, final, output, text, best)


def softmax_warmup_steps(train: TextStats, t: TrainingSettings, steps: int) -> int:
    """Steps that train a new softmax alone: one pass over the task's words (each word
    of the new vocabulary, built from them, is then a target before the biLM sees a
    gradient through its row), at most a quarter of ``steps`` (three quarters adapt the
    biLM), at least 1. A step reads batch_size x unroll_steps targets per direction in
    window mode (a sentence's words and its end), batch_size sentences in sentence mode."""
    return max(1, min(one_pass_steps(train, t), steps // 4))


def one_pass_steps(train: TextStats, t: TrainingSettings) -> int:
    """Steps that read the task's words once (at least 1)."""
    if t.mode == "window":
        return max(1, -(-(train.words + train.sentences) // (t.batch_size * t.unroll_steps)))
    return max(1, -(-train.sentences // t.batch_size))


class _Passes:
    """Adaptation chosen on the dev text: pretraining continued one pass over the task's
    words at a time (each a ``pretrain`` call that resumes the run), the dev text scored
    after each ("event": "pass" in the log); OUTPUT is rewritten whenever a pass lowers
    the dev perplexity; training stops after ``patience`` passes without that, or once
    ``steps`` are spent. A resumed adaptation finds its passes in the log."""

    def __init__(self, source: InitModel, run: Path, output: Path, dev: Path,
                 overrides: Dict[str, Any], warmup: int, steps: int, patience: int) -> None:
        self.source, self.run, self.output, self.dev = source, run, output, dev
        self.overrides, self.warmup, self.steps, self.patience = overrides, warmup, steps, patience

    def config(self, max_steps: int) -> Config:
        return _config(self.source, self.run, max_steps, self.dev, self.overrides, self.warmup)

    def train(self, words: TextStats, resume: bool, force: bool, silent: bool):
        settings = PretrainSettings.from_config(self.config(self.steps))
        t, dev_words = settings.training, settings.paths.dev  # the dev text's words
        size = one_pass_steps(words, t)
        passes = _logged(self.run, "pass") if resume else []
        best = min(passes, key=lambda r: r["dev_average"], default=None)
        final = self.run / ckpt.FINAL
        step = passes[-1]["step"] if passes else 0
        while step < self.steps and not self._patience_spent(passes, best):
            step = min(self.steps, self.warmup + size * ((max(step - self.warmup, 0) // size) + 1))
            final = pretrain(self.config(step), self.run, resume=resume or bool(passes),
                             force=force and not passes, silent=silent)
            scores = evaluate(final, dev_words, batch_size=t.eval_batch_size)
            record = {"event": "pass", "step": step, **{f"dev_{k}": v for k, v in scores.items()}}
            _append_log(self.run, record)
            passes.append(record)
            if best is None or record["dev_average"] < best["dev_average"]:
                best = record
                _write_output(self.source, final, self.output)
        return final, best

    def _patience_spent(self, passes, best) -> bool:
        return best is not None and sum(r["step"] > best["step"] for r in passes) >= self.patience


def check_output(output: Path, inputs: Dict[str, Optional[Path]]) -> None:
    """OUTPUT overlaps no input, and is new, empty or an earlier adaptation's."""
    out = output.resolve()
    for what, path in inputs.items():
        if path is None:
            continue
        resolved = path.resolve()
        if resolved == out or out in resolved.parents or resolved in out.parents:
            raise ValueError(Errors.E366.format(output=output, what=what, path=path))
    if output.exists() and not output.is_dir():
        raise ValueError(Errors.E367.format(path=output, found="a file", run=RUN_DIR))
    others = sorted(p.name for p in output.iterdir()) if output.is_dir() else []
    if others and not (output / RUN_DIR).is_dir():
        raise ValueError(Errors.E367.format(path=output, found=", ".join(others[:5]), run=RUN_DIR))


def _config(source: InitModel, run: Path, steps: int, dev: Optional[Path],
            overrides: Dict[str, Any], warmup: int = 0) -> Config:
    """The run's config: defaults, the source run's [corpus] / [training], the model's
    [model], the adaptation's settings, then ``overrides``."""
    corpus, training = _source_sections(source)
    text = run / TEXT_DIR
    config = Config().from_str(DEFAULT_CONFIG).merge({
        "paths": {"train": str(text / "train.txt"), "dev": str(text / "dev.txt") if dev else None,
                  "vocab": str(source.final / ckpt.VOCAB_FILE) if source.head is not None else None,
                  "init_bilm": str(source.path)},
        "corpus": {**corpus, "tokenizer": "whitespace"},
        "model": model_section(source.bilm.options),
        "training": {**training, **_RESET, "max_steps": steps, "frozen_bilm_steps": warmup},
    })
    return Config().from_str(config.to_str(), overrides=overrides)


def _source_sections(source: InitModel):
    """[corpus] and [training] of the run that made ``source`` (a pretraining output),
    the pipeline's language (a pipeline), else nothing (the defaults)."""
    if source.final is not None and (source.final / ckpt.CONFIG_FILE).is_file():
        saved = Config().from_disk(source.final / ckpt.CONFIG_FILE, interpolate=False)
        return dict(saved.get("corpus", {})), dict(saved.get("training", {}))
    if (source.path / "config.cfg").is_file() and _is_pipeline(source):
        nlp_config = Config().from_disk(source.path / "config.cfg", interpolate=False)
        return {"lang": nlp_config["nlp"]["lang"]}, {}
    return {}, {}


def _warmup(source: InitModel, train: TextStats, settings: PretrainSettings, steps: int,
            overrides: Dict[str, Any], resumed: Optional[Path]) -> int:
    """training.frozen_bilm_steps: given by an override, else the resumed run's (sized
    from its first --steps), else ``softmax_warmup_steps`` for a new softmax, else 0."""
    if "training.frozen_bilm_steps" in overrides:
        warmup = settings.training.frozen_bilm_steps
    elif source.head is not None:
        return 0
    elif resumed is not None and (resumed / ckpt.CONFIG_FILE).is_file():
        saved = Config().from_disk(resumed / ckpt.CONFIG_FILE, interpolate=False)
        warmup = int(saved.get("training", {}).get("frozen_bilm_steps", 0))
    else:
        warmup = softmax_warmup_steps(train, settings.training, steps)
    if warmup >= steps:
        raise ValueError(Errors.E368.format(steps=steps, warmup=warmup, minimum=warmup + 1))
    return warmup


def _write_text(train: Path, dev: Optional[Path], run: Path, lang: str,
                source: InitModel):
    """The words of TRAIN and DEV under OUTPUT/run/corpus/, written holding the run's
    lock (E334 while another process trains there, whose text this would replace).
    Text files are tokenized as a pipeline MODEL tokenizes (its word segmenter)."""
    text = run / TEXT_DIR
    tokenizer = Tokenizer.from_pipeline(source.path) if _is_pipeline(source) else None
    with run_lock(run):
        return (write_task_text(train, text / "train.txt", lang, tokenizer),
                write_task_text(dev, text / "dev.txt", lang, tokenizer) if dev else None)


def _is_pipeline(source: InitModel) -> bool:
    return source.kind == PIPELINE_KIND


def _remove_new(output: Path, created: bool, wrote_text: bool) -> None:
    """What a failed new adaptation wrote: its text files (when it wrote them: not
    another run's) and the folders left empty (OUTPUT only when it made it)."""
    text = output / RUN_DIR / TEXT_DIR
    if wrote_text:
        for name in ("train.txt", "dev.txt"):
            (text / name).unlink(missing_ok=True)
    for folder in (text, output / RUN_DIR, output) if created else (text, output / RUN_DIR):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def _finish(source: InitModel, run: Path, final: Path, output: Path, text,
            best: Optional[Dict[str, Any]]) -> Adaptation:
    """Log the summary; without a dev text, write the pipeline (with one, the best
    pass's is OUTPUT already)."""
    settings = PretrainSettings.from_config(Config().from_disk(run / ckpt.CONFIG_FILE,
                                                               interpolate=False))
    after = None if best is None else {k[len("dev_"):]: v for k, v in best.items()
                                       if k.startswith("dev_")}
    result = Adaptation(output, run, text[0], text[1],
                        "kept" if source.head is not None else "new",
                        settings.training.frozen_bilm_steps, _logged_before(run), after,
                        None if best is None else best["step"])
    _append_log(run, {"event": "adapted", "model": str(source.path), "kind": source.kind,
               "softmax": result.softmax, "warmup_steps": result.warmup_steps,
               "train": vars(result.train), "dev": vars(result.dev) if result.dev else None,
               "dev_before": result.before, "dev_after": after, "best_step": result.best_step})
    if best is None:
        _write_output(source, final, output)
    if (final / "pipeline").is_dir():
        shutil.rmtree(final / "pipeline")  # OUTPUT is the pipeline: one copy of the weights
    return result


def _write_output(source: InitModel, final: Path, output: Path) -> None:
    nlp = _output_pipeline(source, final / "pipeline")
    with write_errors(output):  # a full disk or read-only folder: E510, no traceback
        nlp.to_disk(output)


def _output_pipeline(source: InitModel, exported: Path) -> Language:
    """OUTPUT's pipeline: a pipeline MODEL keeps its own tokenizer (a Chinese word
    segmenter, say), language and elmo settings, with the adapted biLM's weights in its
    elmo component; any other MODEL gets the run's export (spacy.blank(lang) + elmo)."""
    if not _is_pipeline(source):
        return spacy.load(exported)
    nlp, name = elmo_pipeline(source.path)
    get_bilm(nlp.get_pipe(name).model).load_state_dict(bilm_from_directory(exported).state_dict())
    description = nlp.meta.get("description") or f"ELMo biLM from {source.path.name}"
    nlp.meta["description"] = f"{description}; adapted to a task's text (spacy_elmo adapt)"
    return nlp


def _append_log(run: Path, record: Dict[str, Any]) -> None:
    append_line(run / ckpt.LOG_FILE, srsly.json_dumps(record))


def _logged_before(run: Path) -> Optional[Dict[str, float]]:
    """The perplexity the run logged for the biLM it started from (phase "before")."""
    found = [r for r in _logged(run, "eval") if r.get("phase") == "before"]
    if not found:
        return None
    return {k[len("dev_"):]: v for k, v in found[-1].items() if k.startswith("dev_")}


def _logged(run: Path, event: str) -> List[Dict[str, Any]]:
    path = run / ckpt.LOG_FILE
    return [r for r in srsly.read_jsonl(path) if r.get("event") == event] if path.is_file() else []
