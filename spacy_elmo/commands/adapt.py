"""``python -m spacy_elmo adapt``: a biLM adapted to a task's text, as a pipeline."""
from pathlib import Path
from typing import Dict, Optional

import typer
from typer import Argument as Arg, Option as Opt
from wasabi import msg

from .._cli_app import app
from .pretrain import EXTRA_ARGS


@app.command("adapt", context_settings=EXTRA_ARGS)
def adapt_cli(
    # fmt: off
    ctx: typer.Context,  # holds the config overrides (--training.batch_size 32 ...)
    model: Path = Arg(..., help="Pipeline with an 'elmo' component, pretraining output, folder with options.json + weights.hdf5, or ELMoForManyLangs model folder"),
    train: Path = Arg(..., help="The task's training data: .spacy or text file(s), or a folder of them"),
    output: Path = Arg(..., help="Pipeline to write (usable as --paths.elmo); the run goes to OUTPUT/run"),
    steps: int = Opt(1000, "--steps", "-n", help="Optimizer steps, the softmax warm-up included (at most, with --dev)"),
    dev: Optional[Path] = Opt(None, "--dev", "-d", help="Held-out text (.spacy, text, folder): perplexity before and after, and the number of steps chosen on it"),
    patience: int = Opt(2, "--patience", help="With --dev: passes over TRAIN's words without a lower dev perplexity before stopping"),
    resume: bool = Opt(False, "--resume", "-r", help="Continue the run in OUTPUT from its checkpoint"),
    force: bool = Opt(False, "--force", "-F", help="Start over, replacing the run in OUTPUT"),
    silent: bool = Opt(False, "--silent", "-s", help="No progress bar or messages"),
    # fmt: on
):
    """Adapt an ELMo biLM to the words of a task's training data.

    Continued pretraining, as the ELMo paper's appendix A.1. Only the words of TRAIN are read, sentence by sentence where its docs mark
    sentences. A model without an LM softmax first gets one over TRAIN's words,
    trained while the biLM is frozen. With --dev, training goes one pass over
    TRAIN's words at a time and stops when --patience passes do not lower the dev
    perplexity; OUTPUT is the best pass's. Pretraining settings are overridden as in
    `pretrain`: --training.batch_size 32 --training.learning_rate 0.1.
    """
    from ..config_overrides import parse_overrides

    from ..output_file import WriteFailed
    from ..pretrain.adapt import adapt
    from ..pretrain.train import NonFiniteLoss

    overrides = parse_overrides(ctx.args)
    try:
        result = adapt(model, train, output, steps=steps, dev=dev, overrides=overrides,
                       resume=resume, force=force, silent=silent, patience=patience)
    except (NonFiniteLoss, ValueError, FileNotFoundError, PermissionError, IsADirectoryError,
            NotADirectoryError, WriteFailed) as err:
        msg.fail(str(err), exits=1)
    if silent:
        return
    t = result.train
    msg.info(f"Adapted on {t.docs} docs, {t.sentences} sentences, {t.words} words "
             f"({t.files} file(s) in {train})")
    if result.softmax == "new":
        msg.info(f"New softmax: {result.warmup_steps} warm-up steps with the biLM frozen")
    if result.after is not None:
        print(f"Held-out perplexity on {dev}: {_ppl(result.before)} before, "
              f"{_ppl(result.after)} after step {result.best_step}, the best pass "
              f"({result.after['n_tokens']} tokens per direction)")
    msg.good("Saved the adapted pipeline", str(result.pipeline))


def _ppl(scores: Optional[Dict[str, float]]) -> str:
    return "?" if scores is None else f"{scores['average']:.1f}"
