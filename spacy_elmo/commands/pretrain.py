"""``python -m spacy_elmo pretrain|evaluate|vocab``: thin typer commands over the library."""
from pathlib import Path
from typing import Optional

import typer
from typer import Argument as Arg, Option as Opt
from wasabi import msg

from .._cli_app import app

EXTRA_ARGS = {"allow_extra_args": True, "ignore_unknown_options": True}


@app.command("pretrain", context_settings=EXTRA_ARGS)
def pretrain_cli(
    # fmt: off
    ctx: typer.Context,  # holds the config overrides (--training.max_steps 100 ...)
    config_path: Path = Arg(..., help="Pretraining config (.cfg)", exists=True, dir_okay=False),
    output_dir: Path = Arg(..., help="Output directory: checkpoints/, log.jsonl, final/"),
    resume: bool = Opt(False, "--resume", "-r", help="Continue the run in OUTPUT_DIR from its checkpoint"),
    force: bool = Opt(False, "--force", "-F", help="Overwrite a different run in OUTPUT_DIR"),
    silent: bool = Opt(False, "--silent", "-s", help="No progress bar or messages"),
    # fmt: on
):
    """Pretrain an ELMo biLM on raw text.

    The text has one sentence or paragraph per line. Works under `torchrun --nproc_per_node N` for data-parallel training. Settings
    are overridden like `spacy train`: --paths.train corpus.txt --training.max_steps 1000.
    --paths.init_bilm DIR continues pretraining an existing biLM (domain adaptation).
    """
    from spacy.cli._util import parse_config_overrides, show_validation_error

    from ..pretrain.config import load_config
    from ..pretrain.train import NonFiniteLoss, pretrain

    overrides = parse_config_overrides(ctx.args)
    with show_validation_error(config_path):
        config = load_config(config_path, overrides)
    try:
        pretrain(config, output_dir, resume=resume, force=force, silent=silent)
    except (NonFiniteLoss, ValueError, FileNotFoundError, PermissionError, IsADirectoryError) as err:
        msg.fail(str(err), exits=1)


@app.command("evaluate")
def evaluate_cli(
    # fmt: off
    model_dir: Path = Arg(..., help="Pretraining output dir (or its final/), not a converted pipeline", exists=True, file_okay=False),
    text: str = Arg(..., help="Held-out text: a file, a directory or sotu:heldout"),
    batch_size: int = Opt(32, "--batch-size", "-b", help="Sentences per batch"),
    device: str = Opt("cpu", "--device", "-d", help="cpu or cuda"),
    mode: str = Opt("sentence", "--mode", "-m", help="sentence: lines alone; stream: state carried"),
    output: Optional[Path] = Opt(None, "--output", "-o", help="Also write the JSON object here"),
    # fmt: on
):
    """Forward, backward and average perplexity on held-out text.

    MODEL_DIR must be a pretraining output (it holds the LM softmax and vocabulary):
    a pipeline from `convert` cannot be evaluated. The last line of the output is one
    JSON object: {"forward": ..., "backward": ..., "average": ...}."""
    import srsly

    from ..pretrain.evaluate import evaluate

    try:
        result = evaluate(model_dir, text, batch_size=batch_size, device=device, mode=mode)
    except (ValueError, FileNotFoundError, PermissionError, IsADirectoryError) as err:
        msg.fail(str(err), exits=1)
    msg.info(f"{result['n_tokens']} tokens per direction")
    scores = {k: result[k] for k in ("forward", "backward", "average")}
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        srsly.write_json(output, scores)
    print(srsly.json_dumps(scores))


@app.command("vocab", context_settings=EXTRA_ARGS)
def vocab_cli(
    # fmt: off
    ctx: typer.Context,
    config_path: Path = Arg(..., help="Pretraining config (.cfg)", exists=True, dir_okay=False),
    output_file: Path = Arg(..., help="vocab.txt to write (use it as [paths] vocab)"),
    # fmt: on
):
    """Count the training corpus and write the softmax vocabulary.

    The vocabulary file has one token per line."""
    from spacy.cli._util import parse_config_overrides, show_validation_error

    from ..pretrain.config import PretrainSettings, load_config
    from ..pretrain.vocab import corpus_vocab

    with show_validation_error(config_path):
        config = load_config(config_path, parse_config_overrides(ctx.args))
    try:
        vocab, stats = corpus_vocab(PretrainSettings.from_config(config))
        output_file.parent.mkdir(parents=True, exist_ok=True)
        vocab.to_disk(output_file)
    except (ValueError, FileNotFoundError, PermissionError, IsADirectoryError) as err:
        msg.fail(str(err), exits=1)
    msg.good(f"{len(vocab)} entries from {stats['tokens']} tokens written to {output_file}")
