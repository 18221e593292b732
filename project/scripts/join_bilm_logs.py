"""Join the logs of a pretraining run and of its continuation (``--paths.init_bilm``) into
one log, as if one run had done both: the continuation's steps, tokens and times are
counted on from the first run's last record, and the first run's held-out perplexity
(``spacy_elmo evaluate`` of its final model, the JSON of ``evaluate-lm``) becomes an eval
event at its last step, where the continuation started from that model.

    python scripts/join_bilm_logs.py FIRST/log.jsonl FIRST_lm.json SECOND/log.jsonl OUT.jsonl
"""
from pathlib import Path

import srsly
import typer
from wasabi import msg

COUNTERS = ("step", "tokens", "elapsed_s", "cpu_s")


def main(
    first_log: Path = typer.Argument(..., exists=True, dir_okay=False),
    first_lm: Path = typer.Argument(..., exists=True, dir_okay=False, help="held-out ppl of the first run's final model"),
    second_log: Path = typer.Argument(..., exists=True, dir_okay=False),
    output: Path = typer.Argument(..., help="Joined log (must not exist)"),
) -> None:
    if output.exists():
        msg.fail(f"{output} exists: not replaced", exits=1)
    first = list(srsly.read_jsonl(first_log))
    steps = [r for r in first if "event" not in r and "step" in r]
    if not steps:
        msg.fail(f"{first_log} has no training records", exits=1)
    last = steps[-1]
    lm = srsly.read_json(first_lm)
    joined = first + [{"event": "eval", "step": last["step"],
                       **{f"dev_{k}": lm[k] for k in ("forward", "backward", "average")}}]
    offsets = {key: last.get(key, 0) for key in COUNTERS}
    for record in srsly.read_jsonl(second_log):
        if record.get("event") == "init":
            record = {**record, "continues_at": {k: offsets[k] for k in ("step", "tokens")}}
        shifted = ("step",) if "event" in record else COUNTERS  # events: only their step
        joined.append({k: v + offsets[k] if k in shifted else v for k, v in record.items()})
    srsly.write_jsonl(output, joined)
    msg.good(f"{len(joined)} records in {output} (continuation from step {last['step']})")


if __name__ == "__main__":
    typer.run(main)
