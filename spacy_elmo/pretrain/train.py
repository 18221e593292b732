"""Pretrain a biLM on raw text: the training loop, checkpoints and resumption.

``pretrain(config, output_dir)`` trains the biLM + softmax described by a config (see
``config.py``) and exports it (see ``export.py``). It runs the same way in one process
or under ``torchrun``: each process owns batch_size / world_size rows of the global
batch, gradients are averaged by ``DistributedDataParallel``, and the main process
writes the checkpoints, the log and the export.

Log records (log.jsonl) per ``log_every`` steps: ``loss`` is the forward plus the
backward mean NLL per token, ``ppl_forward`` / ``ppl_backward`` / ``ppl`` their
exponentials (``ppl`` of the mean of both). With the sampled softmax these are the
sampled-softmax values, as bilm-tf's train_perplexity; ``evaluate`` gives the true ones.
"""
import math
import time
import warnings
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import numpy
import srsly
import torch
from confection import Config
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm
from wasabi import Printer

from ..errors import Errors, Warnings
from ..output_file import append_line
from ..nn.bilm import BiLM
from ..torch_files import load_state_into
from . import checkpoint as ckpt
from .batch import TokenIds, encode_sentences, encode_windows
from .config import PretrainSettings, check_memory
from .corpus import Tokenizer, check_utf8, has_text, resolve_paths
from .distributed import Distributed
from .evaluate import perplexity
from .export import export_final
from .init_model import InitModel, read_init_model
from .lm import LanguageModel, direction_perplexities, init_like_original, sample_log_uniform
from .run_folder import check_run_inputs, prepare_output, remove_run_files, run_lock
from .stream import Corpus, RowStreams
from .vocab import Vocab, corpus_vocab


class NonFiniteLoss(RuntimeError):
    """The loss or the gradient became NaN or infinite; the run stopped."""


def pretrain(config: Config, output_dir: Union[str, Path], resume: bool = False,
             force: bool = False, silent: bool = False) -> Path:
    """Train (or resume) a biLM and export it; returns ``output_dir/final``.

    config (Config): the pretraining config (``load_config``), see ``config.py``.
    output_dir (Path): where the run lives: config.cfg, vocab.txt, log.jsonl,
        checkpoints/, final/.
    resume (bool): continue the run in ``output_dir`` from its latest checkpoint
        (``[paths] init_bilm`` is then not read: a new run starts from it, see init_model.py).
    force (bool): overwrite a run in ``output_dir`` (with ``resume``: only if its
        config differs in more than the settings that may change on resume).
    silent (bool): no progress bar or messages.
    Under torchrun every process calls this; only the first writes files.
    """
    settings = PretrainSettings.from_config(config)
    output_dir = Path(output_dir)
    env = Distributed.setup(settings.training.device)
    try:
        printer = Printer(no_print=silent or not env.is_main)
        env.on_main(lambda: check_inputs(settings, output_dir))  # before anything is written
        with ExitStack() as lock:  # the main process, which writes, holds the folder's lock
            env.on_main(lambda: lock.enter_context(run_lock(output_dir)))
            return _run(settings, output_dir, env, resume, force, printer, silent)
    finally:
        env.close()


def _run(settings: PretrainSettings, output_dir: Path, env: Distributed, resume: bool,
         force: bool, printer: Printer, silent: bool) -> Path:
    # A bad init_bilm or latest.json fails before anything is written (a run that will
    # resume skips init_bilm).
    resuming = env.on_main(lambda: resume and ckpt.latest_checkpoint(output_dir) is not None)
    init = None if resuming else _init_model(settings)
    fresh = not ckpt.existing_run(output_dir)
    try:
        trainer, vocab = _start(settings, output_dir, env, resume, force, printer, silent, init)
        trainer.train()
    except BaseException:
        # a new run that failed before its first checkpoint leaves nothing behind
        if env.is_main and fresh and ckpt.latest_checkpoint(output_dir) is None:
            remove_run_files(output_dir)
        raise
    final = output_dir / ckpt.FINAL
    if env.is_main:
        export_final(trainer.lm, vocab, settings.config, final, settings.corpus.lang)
        printer.good(f"Saved the biLM to {final}")
    env.barrier()
    return final


def check_inputs(settings: PretrainSettings, output_dir: Path) -> None:
    """Fail before step 1 on a missing, empty or non-UTF-8 training corpus, dev text or
    vocabulary file, each error naming the file, or on inputs the run would write over;
    on sizes that cannot fit in memory."""
    check_memory(settings)
    paths = settings.paths
    check_run_inputs(settings, output_dir)
    train = Corpus.from_paths(resolve_paths(paths.train, "train"), warn=True).files
    check_utf8(train)
    if paths.dev:
        dev = resolve_paths(paths.dev, "dev")
        check_utf8(dev)
        if not has_text(dev):  # evaluation would fail after the first eval_every steps
            raise ValueError(Errors.E351.format(path=paths.dev))
    if paths.vocab and not Path(paths.vocab).is_file():
        raise FileNotFoundError(Errors.E302.format(path=paths.vocab, key="vocab"))


def _start(settings: PretrainSettings, output_dir: Path, env: Distributed, resume: bool,
           force: bool, printer: Printer, silent: bool, init: Optional[InitModel]):
    """The output directory, the vocabulary and the trainer (restored when resuming,
    else starting from ``init`` when given)."""
    resume = env.on_main(lambda: prepare_output(output_dir, settings, resume, force))
    vocab = Vocab(env.on_main(lambda: _vocabulary(output_dir, settings, printer)))
    latest = ckpt.latest_checkpoint(output_dir) if resume else None
    if latest is None and init is None:  # --force turned the expected resume into a new run
        init = _init_model(settings)
    trainer = Trainer(settings, output_dir, vocab, env, silent, None if latest else init)
    if latest is not None:
        printer.info(f"Resuming from {latest}")
        trainer.restore(ckpt.load_checkpoint(latest), latest)
        if env.is_main:
            dropped = _drop_replayed(output_dir, trainer.step)
            _log(output_dir, {"event": "resume", "step": trainer.step, "checkpoint": latest.name,
                              "dropped_records": dropped})
    elif init is not None and env.is_main:
        _log(output_dir, {"event": "init", "init_bilm": str(init.path), "kind": init.kind,
                          "softmax": trainer.softmax_init})
        printer.info(f"Starting from the biLM in {init.path} ({init.kind}); "
                     f"softmax {trainer.softmax_init}")
    return trainer, vocab


def _drop_replayed(output_dir: Path, step: int) -> int:
    """Remove the log records of steps after ``step`` (the killed run's, which training
    now replays), so that no step is logged twice; returns how many were removed."""
    path = output_dir / ckpt.LOG_FILE
    if not path.exists():
        return 0
    lines = [line for line in path.read_text(encoding="utf8").splitlines() if line.strip()]
    kept = []
    for line in lines:
        try:
            record = srsly.json_loads(line)
        except ValueError:  # a line cut short by the kill
            continue
        if not (record.get("step", 0) > step and record.get("event") in (None, "eval")):
            kept.append(record)
    if len(kept) < len(lines):
        ckpt.atomic_write(path, lambda tmp: srsly.write_jsonl(tmp, kept))
    return len(lines) - len(kept)


def _init_model(settings: PretrainSettings) -> Optional[InitModel]:
    path = settings.paths.init_bilm
    return read_init_model(path, settings.model) if path else None


def _vocabulary(output_dir: Path, settings: PretrainSettings, printer: Printer) -> List[str]:
    """The run's vocabulary: kept from an earlier start, given in [paths] vocab, or built."""
    path = output_dir / ckpt.VOCAB_FILE
    if path.exists():
        return Vocab.from_disk(path).words
    if settings.paths.vocab:
        vocab = Vocab.from_disk(settings.paths.vocab)
    else:
        vocab, stats = corpus_vocab(settings)
        _log(output_dir, {"event": "corpus", **stats, "vocab_size": len(vocab)})
        printer.info(f"Corpus: {stats['tokens']} tokens in {stats['lines']} lines; "
                     f"vocabulary: {len(vocab)} entries")
    ckpt.atomic_write(path, vocab.to_disk)
    return vocab.words


def _log(output_dir: Path, record: Dict[str, Any]) -> None:
    append_line(output_dir / ckpt.LOG_FILE, srsly.json_dumps(record))


def learning_rate(step: int, base: float, schedule: str, warmup: int, total: int) -> float:
    """Linear warm-up over ``warmup`` steps, then constant, linear or cosine decay to 0."""
    if warmup and step < warmup:
        return base * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    if schedule == "linear":
        return base * (1.0 - progress)
    if schedule == "cosine":
        return base * 0.5 * (1.0 + math.cos(math.pi * progress))
    return base


class Trainer:
    """The state of one process of a run: model, optimizer, data streams, carried state."""

    def __init__(self, settings: PretrainSettings, output_dir: Path, vocab: Vocab,
                 env: Distributed, silent: bool = False, init: Optional[InitModel] = None) -> None:
        t = self.t = settings.training
        self.settings, self.output_dir, self.vocab = settings, output_dir, vocab
        self.env, self.silent = env, silent
        if t.batch_size % env.world_size:
            raise ValueError(Errors.E314.format(batch_size=t.batch_size, world_size=env.world_size))
        torch.manual_seed(t.seed)  # the same initial weights in every process
        bilm = init_like_original(BiLM(settings.model))
        lm = LanguageModel(bilm, len(vocab), t.dropout)
        # the same random draws with or without init_bilm: a fresh softmax is the same
        self.softmax_init = init.apply(lm, vocab) if init is not None else None
        self.lm = lm.to(env.device)
        torch.manual_seed(t.seed + 7919 * (env.rank + 1))  # dropout differs between processes
        self.model = self.lm
        if env.world_size > 1:
            ids = [env.device.index] if env.device.type == "cuda" else None
            self.model = DistributedDataParallel(self.lm, device_ids=ids)
        self.optimizer = self._optimizer()
        self.rows_per_process = t.batch_size // env.world_size
        rows = range(env.rank * self.rows_per_process, (env.rank + 1) * self.rows_per_process)
        self.tokenizer = Tokenizer.from_settings(settings.corpus)
        self.corpus = Corpus.from_paths(resolve_paths(settings.paths.train), warn=False)
        self.streams = RowStreams(self.corpus, self.tokenizer, t.batch_size, rows, t.mode)
        self.chars = TokenIds(bilm.token_encoder.lexicon)
        self.states = None
        if t.mode == "window":
            self.states = self.lm.bilm.default_state(self.rows_per_process)
        self.step, self.tokens_seen, self.elapsed = 0, 0, 0.0
        self.sampled = t.softmax == "sampled" and t.n_samples < len(vocab)
        if t.softmax == "sampled" and not self.sampled and env.is_main:
            warnings.warn(Warnings.W318.format(n_samples=t.n_samples, vocab_size=len(vocab)))
        self.amp = t.mixed_precision and env.device.type == "cuda"
        if t.mixed_precision and not self.amp and env.is_main:
            warnings.warn(Warnings.W319.format(device=env.device))

    def _optimizer(self) -> torch.optim.Optimizer:
        t = self.t
        if t.optimizer == "adam":
            return torch.optim.Adam(self.lm.parameters(), lr=t.learning_rate)
        # bilm-tf: Adagrad with initial accumulator 1.0
        return torch.optim.Adagrad(self.lm.parameters(), lr=t.learning_rate,
                                   initial_accumulator_value=t.adagrad_initial_accumulator)

    def _batch(self):
        if self.t.mode == "window":
            forward, backward = self.streams.windows(self.t.unroll_steps)
            return encode_windows(forward, backward, self.vocab, self.chars).to(self.env.device)
        sentences = self.streams.sentences(self.t.max_sentence_length)
        return encode_sentences(sentences, self.vocab, self.chars).to(self.env.device)

    def train_step(self) -> torch.Tensor:
        """One optimizer step; returns the summed NLL per direction over the global batch
        and the number of targets per direction, as a (3,) float64 tensor."""
        t, env = self.t, self.env
        batch = self._batch()
        count = env.all_reduce_sum(torch.tensor([float(batch.n_targets)], device=env.device))
        sample = None
        if self.sampled:  # the same candidates in every process: (seed, step) only
            rng = numpy.random.default_rng([t.seed, self.step])
            sample = sample_log_uniform(rng, t.n_samples, len(self.vocab))
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(
                self.step, t.learning_rate, t.schedule, t.warmup_steps, t.max_steps)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.amp):
            nll, finals = self.model(batch, self.states, sample)
        # The loss: forward + backward NLL summed over each row's tokens, averaged over the
        # global batch's rows (bilm-tf: the same, halved). DDP averages over processes.
        loss = nll.sum() * env.world_size / t.batch_size
        stats = torch.cat([env.all_reduce_sum(nll.detach().double()), count.double()])
        self._check_finite(float(stats[:2].sum()), "loss")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.step < t.frozen_bilm_steps:  # no gradient: the optimizers leave the biLM as is
            for param in self.lm.bilm.parameters():
                param.grad = None
        clip = t.grad_clip if t.grad_clip > 0 else float("inf")
        norm = torch.nn.utils.clip_grad_norm_(self.lm.parameters(), clip)
        self._check_finite(float(norm), "gradient norm")
        self.optimizer.step()
        self.states = finals
        self.step += 1
        self.tokens_seen += int(count[0])
        return stats.cpu()

    def _check_finite(self, value: float, what: str) -> None:
        if not math.isfinite(value):
            latest = ckpt.latest_checkpoint(self.output_dir)
            message = Errors.E313.format(
                value=f"{what} {value}", step=self.step + 1, checkpoint=latest)
            if self.env.is_main:
                _log(self.output_dir, {"event": "stopped", "step": self.step + 1, "error": message})
            raise NonFiniteLoss(message)

    def train(self) -> None:
        t = self.t
        bar = tqdm(total=t.max_steps, initial=self.step, unit="step", leave=False,
                   disable=self.silent or not self.env.is_main)
        window = {"stats": torch.zeros(3, dtype=torch.float64), "start": time.perf_counter()}
        clock, self._elapsed_before = time.perf_counter(), self.elapsed
        if self.step == 0 and self.softmax_init and self.softmax_init.startswith("reused"):
            self._evaluate(phase="before")  # continued pretraining: where it starts from
        while self.step < t.max_steps:
            window["stats"] += self.train_step()
            bar.update(1)
            done = self.step == t.max_steps or self._out_of_time(clock)
            unfrozen = self.step == t.frozen_bilm_steps
            if self.step % t.log_every == 0 or done:
                self._report(window, bar)
            if unfrozen:
                self._unfreeze()
            elif t.eval_every and self.step % t.eval_every == 0:
                self._evaluate()
            if (t.checkpoint_every and self.step % t.checkpoint_every == 0) or done or unfrozen:
                self.save()
            if done:
                break
        bar.close()

    def _out_of_time(self, clock: float) -> bool:
        """Whether the time budget (training.max_minutes) is spent, agreed by all processes."""
        if not self.t.max_minutes:
            return False
        spent = self._elapsed_before + time.perf_counter() - clock >= 60.0 * self.t.max_minutes
        flag = self.env.all_reduce_sum(torch.tensor([float(spent)], device=self.env.device))
        return bool(flag[0] > 0)

    def _report(self, window: Dict[str, Any], bar: tqdm) -> None:
        seconds = time.perf_counter() - window["start"]
        self.elapsed += seconds
        stats = window["stats"]
        ppl = direction_perplexities((float(stats[0]), float(stats[1])), int(stats[2]))
        record = {"step": self.step, "tokens": self.tokens_seen,
                  "loss": float(stats[:2].sum() / stats[2]), "ppl": ppl["average"],
                  "ppl_forward": ppl["forward"], "ppl_backward": ppl["backward"],
                  "tokens_per_s": float(stats[2]) / max(seconds, 1e-9),
                  "lr": self.optimizer.param_groups[0]["lr"], "elapsed_s": self.elapsed,
                  "cpu_s": time.process_time()}
        bar.set_postfix({"tok/s": f"{record['tokens_per_s']:.0f}", "loss": f"{record['loss']:.3f}",
                         "ppl": f"{record['ppl']:.1f}"})
        if self.env.is_main:
            _log(self.output_dir, record)
        window["stats"] = torch.zeros(3, dtype=torch.float64)
        window["start"] = time.perf_counter()

    def _unfreeze(self) -> None:
        """The end of the softmax warm-up (training.frozen_bilm_steps): logged, the
        biLM (unchanged so far) evaluated with the warmed-up softmax, and checkpointed."""
        if self.env.is_main:
            _log(self.output_dir, {"event": "bilm_unfrozen", "step": self.step})
        self._evaluate(phase="before")

    def _evaluate(self, phase: Optional[str] = None) -> None:
        """Held-out perplexity on [paths] dev, logged; ``phase`` "before" marks the
        biLM a continued run starts from (``adapt`` reports it)."""
        dev = self.settings.paths.dev
        if dev and self.env.is_main:
            result = perplexity(self.lm, self.vocab, self.tokenizer, resolve_paths(dev, "dev"),
                                self.t.eval_batch_size, self.env.device, warn=False)
            scores = {f"dev_{k}": v for k, v in result.items()}
            extra = {"phase": phase} if phase else {}
            _log(self.output_dir, {"event": "eval", "step": self.step, **extra, **scores})
        self.env.barrier()

    def save(self) -> None:
        """Checkpoint: the main process writes what every process holds."""
        mine = {"rows": self.streams.state(), "rng": ckpt.rng_state(),
                "lstm": [(h.cpu(), c.cpu()) for h, c in self.states] if self.states else None}
        gathered = self.env.gather(mine)
        if self.env.is_main:
            rows: Dict[int, Any] = {}
            for part in gathered:
                rows.update(part["rows"])
            lstm = None
            if gathered[0]["lstm"] is not None:
                # every layer's (h, c), the processes' rows concatenated in row order
                lstm = [tuple(torch.cat([p["lstm"][l][k] for p in gathered], dim=1) for k in (0, 1))
                        for l in range(len(gathered[0]["lstm"]))]
            payload = {"model": self.lm.state_dict(), "optimizer": self.optimizer.state_dict(),
                       "tokens_seen": self.tokens_seen, "elapsed_s": self.elapsed,
                       "world_size": self.env.world_size, "rows": rows, "lstm_state": lstm,
                       "rng": [p["rng"] for p in gathered], "corpus": self.corpus.fingerprint()}
            ckpt.save_checkpoint(self.output_dir, self.step, payload, self.t.keep_checkpoints)
        self.env.barrier()

    def restore(self, data: Dict[str, Any], source: Union[str, Path] = "checkpoint") -> None:
        """Continue exactly where a checkpoint (read from ``source``) stopped."""
        if data["corpus"] != self.corpus.fingerprint():
            detail = f"checkpoint {data['corpus'][:3]}..., now {self.corpus.fingerprint()[:3]}..."
            raise ValueError(Errors.E312.format(path=self.output_dir, detail=detail))
        load_state_into(self.lm, data["model"], source)
        try:
            self.optimizer.load_state_dict(data["optimizer"])
        except (ValueError, KeyError, TypeError, RuntimeError) as err:
            raise ValueError(Errors.E533.format(
                path=source, key="optimizer", expected="this run's optimizer state",
                found=f"{type(err).__name__}: {err}")) from None
        self.step, self.tokens_seen = data["step"], data["tokens_seen"]
        self.elapsed = data["elapsed_s"]
        self.streams.load_state(data["rows"])
        if data["lstm_state"] is not None and self.states is not None:
            first = self.env.rank * self.rows_per_process
            rows = slice(first, first + self.rows_per_process)
            self.states = [(h[:, rows].to(self.env.device), c[:, rows].to(self.env.device))
                           for h, c in data["lstm_state"]]
        if data["world_size"] == self.env.world_size:
            ckpt.set_rng_state(data["rng"][self.env.rank])
        elif self.env.is_main:
            warnings.warn(Warnings.W322.format(
                world_size=self.env.world_size, saved=data["world_size"]))
