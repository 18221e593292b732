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
    gpu_id: Optional[int] = Opt(None, "--gpu-id", "-g", help="CUDA device, -1 for CPU (default: training.device of the config, auto)"),
    threads: Optional[int] = Opt(None, "--threads", "-t", help="CPU threads of torch (default: the cores this process may use; on cores busy with other jobs 1 can be much faster)"),
    # fmt: on
):
    """Pretrain an ELMo biLM on raw text.

    The text has one sentence or paragraph per line. Works under `torchrun --nproc_per_node N` for data-parallel training. Settings
    are overridden like `spacy train`: --paths.train corpus.txt --training.max_steps 1000.
    --paths.init_bilm DIR continues pretraining an existing biLM (domain adaptation).
    """
    from ..config_overrides import config_errors, parse_overrides

    from ..output_file import WriteFailed
    from ..pretrain.config import load_config
    from ..pretrain.train import NonFiniteLoss, pretrain

    from ..devices import set_threads

    overrides = parse_overrides(ctx.args)
    if gpu_id is not None:
        overrides["training.device"] = "cpu" if gpu_id < 0 else f"cuda:{gpu_id}"
    with config_errors(config_path):
        config = load_config(config_path, overrides)
    try:
        set_threads(threads)
        pretrain(config, output_dir, resume=resume, force=force, silent=silent)
    except (NonFiniteLoss, ValueError, FileNotFoundError, PermissionError, IsADirectoryError,
            WriteFailed) as err:
        msg.fail(str(err), exits=1)


@app.command("evaluate")
def evaluate_cli(
    # fmt: off
    model_dir: Path = Arg(..., help="Pretraining output dir (or its final/), not a converted pipeline", exists=True, file_okay=False),
    text: str = Arg(..., help="Held-out text: a file, a directory or sotu:heldout"),
    batch_size: int = Opt(32, "--batch-size", "-b", help="Sentences per batch"),
    gpu_id: int = Opt(-1, "--gpu-id", "-g", help="CUDA device, -1 for CPU"),
    device: Optional[str] = Opt(None, "--device", "-d", hidden=True, help="Deprecated: --gpu-id"),
    threads: Optional[int] = Opt(None, "--threads", "-t", help="CPU threads of torch (default: the cores this process may use; on cores busy with other jobs 1 can be much faster)"),
    mode: str = Opt("sentence", "--mode", "-m", help="sentence: lines alone; stream: state carried"),
    output: Optional[Path] = Opt(None, "--output", "-o", help="Also write the JSON object here"),
    compute_dtype: str = Opt("float32", "--compute-dtype", help="biLM inference format: float32, bfloat16, int8 or auto"),
    # fmt: on
):
    """Forward, backward and average perplexity on held-out text.

    MODEL_DIR must be a pretraining output (it holds the LM softmax and vocabulary):
    a pipeline from `convert` cannot be evaluated. The last line of the output is one
    JSON object: {"forward": ..., "backward": ..., "average": ...}."""
    import srsly

    from ..output_file import WriteFailed, atomic_output, check_new_output
    from ..pretrain.evaluate import evaluate, evaluation_inputs

    from ..devices import device_for, gpu_id_from_device, set_threads

    inputs = evaluation_inputs(model_dir, text)
    try:
        set_threads(threads)
        device = device_for(gpu_id if device is None else gpu_id_from_device(device))
        if output is not None:  # before the evaluation, and again once the output is locked
            check_new_output(output, inputs)
        result = evaluate(model_dir, text, batch_size=batch_size, device=device, mode=mode,
                          compute_dtype=compute_dtype)
        scores = {k: result[k] for k in ("forward", "backward", "average")}
        if output is not None:
            with atomic_output(output, lambda: check_new_output(output, inputs)) as tmp:
                srsly.write_json(tmp, scores)
    except (ValueError, FileNotFoundError, PermissionError, IsADirectoryError, WriteFailed) as err:
        msg.fail(str(err), exits=1)
    msg.info(f"{result['n_tokens']} tokens per direction")
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
    from ..config_overrides import config_errors, parse_overrides

    from ..output_file import WriteFailed, atomic_output, check_new_output
    from ..pretrain.config import PretrainSettings, load_config
    from ..pretrain.vocab import corpus_inputs, corpus_vocab

    with config_errors(config_path):
        config = load_config(config_path, parse_overrides(ctx.args))
    try:
        settings = PretrainSettings.from_config(config)
        inputs = [config_path, *corpus_inputs(settings)]
        check_new_output(output_file, inputs)  # before counting, and again once locked
        vocab, stats = corpus_vocab(settings)
        with atomic_output(output_file, lambda: check_new_output(output_file, inputs)) as tmp:
            vocab.to_disk(tmp)
    except (ValueError, FileNotFoundError, PermissionError, IsADirectoryError, WriteFailed) as err:
        msg.fail(str(err), exits=1)
    msg.good(f"{len(vocab)} entries from {stats['tokens']} tokens written to {output_file}")
