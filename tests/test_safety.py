"""Safety and clean failures: no unpickling, no destroyed files, one clear error per
expected failure, extensions in a fresh process, batch-independent mixes."""
import io
import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import spacy
import srsly
import torch
from typer.testing import CliRunner

from spacy_elmo.cli import app
from spacy_elmo.pretrain import load_config, pretrain
from spacy_elmo.pretrain.checkpoint import latest_checkpoint, load_checkpoint
from spacy_elmo.pretrain.evaluate import load_language_model
from spacy_elmo.torch_files import UnsafeFileError

from .run_helpers import LINES, TINY, corpus, run_copy, run_dir, tiny_config  # noqa: F401 (fixtures)


ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
runner = CliRunner()


class Payload:
    """Unpickling this creates the file ``marker``: what a crafted file could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def torch_payload(marker: Path) -> bytes:
    handle = io.BytesIO()
    torch.save({"format": "spacy-elmo-pretrain-v1", "model": Payload(marker)}, handle)
    return handle.getvalue()


def run_cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_line(result) -> str:
    return " ".join(result.output.split())


def test_the_payload_is_live(tmp_path):
    """The control: unpickled as torch did by default before 2.6, it creates its file."""
    marker = tmp_path / "pwned"
    torch.load(io.BytesIO(torch_payload(marker)), weights_only=False)
    assert marker.exists()


# -- 1. nothing is unpickled ---------------------------------------------------------
def test_checkpoint_holds_only_tensors_and_plain_values(run_dir):
    data = torch.load(latest_checkpoint(run_dir), weights_only=True)
    assert data["step"] == 2 and set(data["rng"][0]) == {"torch", "numpy", "python"}


@pytest.mark.parametrize("kind", ["torch", "pickle"])
def test_crafted_checkpoint_is_refused_and_runs_nothing(run_copy, corpus, tmp_path, kind):
    marker = tmp_path / "pwned"
    shutil.rmtree(run_copy / "final")  # evaluate reads the checkpoint when no export exists
    checkpoint = latest_checkpoint(run_copy)
    payload = torch_payload(marker) if kind == "torch" else pickle.dumps(Payload(marker))
    checkpoint.write_bytes(payload)
    with pytest.raises(UnsafeFileError, match=f"{checkpoint.name} is not a plain torch file"):
        load_checkpoint(checkpoint)
    result = run_cli("evaluate", run_copy, corpus)
    assert result.exit_code == 1 and "✘" in result.output
    assert "NOT loaded" in one_line(result) and checkpoint.name in one_line(result)
    assert not marker.exists()


def test_resume_from_a_crafted_checkpoint_runs_nothing(run_copy, corpus, tmp_path):
    marker = tmp_path / "pwned"
    latest_checkpoint(run_copy).write_bytes(torch_payload(marker))
    with pytest.raises(UnsafeFileError):
        pretrain(tiny_config(corpus, training__max_steps=3), run_copy, resume=True, silent=True)
    assert not marker.exists()


def test_crafted_lm_head_is_refused_and_runs_nothing(run_copy, tmp_path):
    marker = tmp_path / "pwned"
    head = run_copy / "final" / "lm_head.pt"
    head.write_bytes(torch_payload(marker))
    with pytest.raises(UnsafeFileError, match=r"lm_head\.pt is not a plain torch file"):
        load_language_model(run_copy)
    assert not marker.exists()


def test_crafted_pipeline_model_is_refused_and_runs_nothing(tiny_pipeline_dir, tmp_path):
    marker = tmp_path / "pwned"
    pipeline = Path(shutil.copytree(tiny_pipeline_dir, tmp_path / "pipeline"))
    model_file = pipeline / "elmo" / "model"
    msg = srsly.msgpack_loads(model_file.read_bytes())
    shim = srsly.msgpack_loads(msg["shims"][1][0])  # node 1: the biLM layer
    shim["state"] = torch_payload(marker)
    msg["shims"][1][0] = srsly.msgpack_dumps(shim)
    model_file.write_bytes(srsly.msgpack_dumps(msg))
    with pytest.raises(UnsafeFileError, match=r"elmo/model is not a plain torch file"):
        spacy.load(pipeline)
    assert not marker.exists()


# -- 2. embed never destroys files ---------------------------------------------------
SENTENCES = ["the cat sat on the mat", "short one", "a longer sentence with more words"]


@pytest.fixture
def input_txt(tmp_path) -> Path:
    path = tmp_path / "input.txt"
    path.write_text("\n".join(SENTENCES) + "\n", encoding="utf8")
    return path


def embed(input_path, output_path, model, *extra):
    return run_cli("embed", input_path, output_path, "--model", model, *extra)


def hdf5_keys(path: Path):
    import h5py

    with h5py.File(path, "r") as handle:
        return sorted(handle.keys())


def test_embed_refuses_its_input_as_output_also_through_a_link(input_txt, tiny_pipeline_dir):
    link = input_txt.with_name("link.hdf5")
    link.symlink_to(input_txt)
    before = input_txt.read_bytes()
    for output in (input_txt, link):
        result = embed(input_txt, output, tiny_pipeline_dir, "--force")
        assert result.exit_code == 1 and "is the input file" in one_line(result)
    assert input_txt.read_bytes() == before


def test_embed_replaces_an_existing_output_only_with_force(input_txt, tmp_path, tiny_pipeline_dir):
    output = tmp_path / "out.hdf5"
    output.write_bytes(b"precious")
    result = embed(input_txt, output, tiny_pipeline_dir)
    assert result.exit_code == 1 and "already exists: use --force" in one_line(result)
    assert output.read_bytes() == b"precious"
    assert embed(input_txt, output, tiny_pipeline_dir, "--force").exit_code == 0
    assert hdf5_keys(output) == ["0", "1", "2", "sentence_to_index"]


def test_embed_creates_a_missing_output_folder(input_txt, tmp_path, tiny_pipeline_dir):
    output = tmp_path / "new" / "folder" / "out.hdf5"
    assert embed(input_txt, output, tiny_pipeline_dir).exit_code == 0
    assert hdf5_keys(output) == ["0", "1", "2", "sentence_to_index"]
    assert sorted(p.name for p in output.parent.iterdir()) == ["out.hdf5"]  # no lock, no temp


def test_embed_refuses_an_output_another_process_writes(input_txt, tmp_path, tiny_pipeline_dir):
    from spacy_elmo.output_file import exclusive_lock

    output = tmp_path / "out.hdf5"
    with exclusive_lock(output):
        result = embed(input_txt, output, tiny_pipeline_dir)
    assert result.exit_code == 1 and "is being written by another process" in one_line(result)
    assert not output.exists()


@pytest.mark.slow
def test_killed_embed_leaves_no_output_and_does_not_block_a_retry(tmp_path, tiny_pipeline_dir):
    from spacy_elmo.output_file import lock_path, partial_path

    big = tmp_path / "big.txt"
    big.write_text("\n".join(SENTENCES * 20000) + "\n", encoding="utf8")
    output = tmp_path / "out.hdf5"
    command = [sys.executable, "-m", "spacy_elmo", "embed", str(big), str(output),
               "--model", str(tiny_pipeline_dir), "--batch-size", "256"]
    process = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not partial_path(output).exists() and process.poll() is None:
        time.sleep(0.002)
    assert process.poll() is None, "embed ended before it could be killed"
    process.kill()
    process.wait()
    assert not output.exists() and lock_path(output).exists()  # a stale lock, released by the kernel
    small = tmp_path / "small.txt"
    small.write_text("\n".join(SENTENCES) + "\n", encoding="utf8")
    assert embed(small, output, tiny_pipeline_dir).exit_code == 0
    assert hdf5_keys(output) == ["0", "1", "2", "sentence_to_index"]
    assert not partial_path(output).exists() and not lock_path(output).exists()


# -- 3. invalid UTF-8: one error naming file and line, in every command --------------
def test_embed_names_the_file_and_line_of_invalid_utf8(tmp_path, tiny_pipeline_dir):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"good line\nbad \xff\xfe line\n")
    result = embed(bad, tmp_path / "out.hdf5", tiny_pipeline_dir)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert f"{bad}, line 2: invalid UTF-8" in one_line(result)
    assert not (tmp_path / "out.hdf5").exists()


# -- 4. every expected failure is one clean line -------------------------------------
def assert_one_fail_line(result, *expected: str) -> None:
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    assert [line for line in result.output.splitlines() if line.strip()][0].count("✘") == 1
    for text in expected:
        assert text in one_line(result)


@pytest.fixture
def model_copy(tiny_files, tmp_path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    for path in tiny_files:
        shutil.copy(path, folder / path.name)
    return folder


def test_convert_names_a_corrupt_weights_file(model_copy, tmp_path):
    (model_copy / "weights.hdf5").write_bytes(b"not hdf5 at all" * 10)
    result = run_cli("convert", model_copy / "options.json", model_copy / "weights.hdf5", tmp_path / "p")
    assert_one_fail_line(result, f"{model_copy / 'weights.hdf5'} is not a readable HDF5 file")


def test_convert_names_invalid_options(model_copy, tmp_path):
    (model_copy / "options.json").write_text("{not json", encoding="utf8")
    result = run_cli("convert", model_copy / "options.json", model_copy / "weights.hdf5", tmp_path / "p")
    assert_one_fail_line(result, f"{model_copy / 'options.json'} is not valid JSON")


def test_convert_names_a_missing_dataset(model_copy, tmp_path):
    import h5py

    with h5py.File(model_copy / "weights.hdf5", "a") as handle:
        del handle["CNN/W_cnn_0"]
    result = run_cli("convert", model_copy / "options.json", model_copy / "weights.hdf5", tmp_path / "p")
    assert_one_fail_line(result, "has no dataset 'CNN/W_cnn_0'")


def test_load_allennlp_names_a_directory_given_as_a_file(model_copy):
    from spacy_elmo import load_allennlp

    with pytest.raises(ValueError, match=r"Options file .*model is a directory"):
        load_allennlp(model_copy, model_copy / "weights.hdf5")
    with pytest.raises(ValueError, match=r"Weights file .*model is a directory"):
        load_allennlp(model_copy / "options.json", model_copy)


def test_embed_empty_line_and_missing_model_are_one_line(tmp_path, tiny_pipeline_dir):
    text = tmp_path / "in.txt"
    text.write_text("one line\n\nthird\n", encoding="utf8")
    assert_one_fail_line(embed(text, tmp_path / "o.hdf5", tiny_pipeline_dir), "line 2: empty sentence")
    text.write_text("one line\n", encoding="utf8")
    missing = tmp_path / "no_model"
    assert_one_fail_line(embed(text, tmp_path / "o.hdf5", missing), f"{missing}")


def test_vocab_names_a_missing_corpus_and_refuses_an_empty_one(tmp_path):
    missing = tmp_path / "missing.txt"
    result = run_cli("vocab", TINY, tmp_path / "v.txt", "--paths.train", missing)
    assert_one_fail_line(result, f"Corpus path {missing} not found")
    empty = tmp_path / "blank.txt"
    empty.write_text("   \n\n", encoding="utf8")
    result = run_cli("vocab", TINY, tmp_path / "v.txt", "--paths.train", empty,
                     "--corpus.tokenizer", "whitespace")
    assert_one_fail_line(result, "holds no tokens")
    assert not (tmp_path / "v.txt").exists()


def test_corrupt_latest_json_is_named(run_copy, corpus):
    shutil.rmtree(run_copy / "final")
    latest = run_copy / "checkpoints" / "latest.json"
    latest.write_text('{"file": "step-000', encoding="utf8")
    assert_one_fail_line(run_cli("evaluate", run_copy, corpus), f"Checkpoint index {latest} is corrupt")


def test_pretrain_utf8_error_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"good line here\nbad \xff line\n")
    result = run_cli("pretrain", TINY, tmp_path / "out", "--paths.train", bad, "--paths.dev", "null",
                     "--corpus.tokenizer", "whitespace", "--silent")
    assert_one_fail_line(result, f"{bad}, line 2: invalid UTF-8")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# -- 6. extensions in a fresh process ------------------------------------------------
READ_BACK = """
import sys
import numpy, spacy
import spacy_elmo
from spacy.tokens import DocBin
docs = list(DocBin().from_disk(sys.argv[1]).get_docs(spacy.blank("en").vocab))
numpy.save(sys.argv[2], docs[0]._.elmo_vectors)
"""


@pytest.mark.slow
def test_docbin_with_user_data_reads_back_in_a_new_process(tiny_pipeline_dir, tmp_path):
    import numpy
    from spacy.tokens import DocBin

    nlp = spacy.load(tiny_pipeline_dir)
    doc = nlp("The cat sat on the mat.")
    DocBin(docs=[doc], store_user_data=True).to_disk(tmp_path / "docs.spacy")
    run = subprocess.run([sys.executable, "-c", READ_BACK, str(tmp_path / "docs.spacy"),
                          str(tmp_path / "vectors.npy")], env=ENV, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    numpy.testing.assert_array_equal(numpy.load(tmp_path / "vectors.npy"), doc._.elmo_vectors)


# -- 5. pretraining checks its inputs before step 1 ----------------------------------
def test_missing_dev_file_fails_before_step_one_and_a_retry_works(corpus, tmp_path):
    output = tmp_path / "out"
    with pytest.raises(FileNotFoundError, match=r"nowhere\.txt not found \(from \[paths\] dev\)"):
        pretrain(tiny_config(corpus, paths__dev=str(tmp_path / "nowhere.txt")), output, silent=True)
    assert not output.exists() or not any(output.iterdir())
    pretrain(tiny_config(corpus, paths__dev=str(corpus)), output, silent=True)  # no E310
    assert load_checkpoint(latest_checkpoint(output))["step"] == 2


def test_failed_start_leaves_nothing_that_blocks_a_retry(corpus, tmp_path, monkeypatch):
    from spacy_elmo.pretrain import train

    def broken(self):
        raise ValueError("training failed before the first checkpoint")

    output = tmp_path / "out"
    monkeypatch.setattr(train.Trainer, "train", broken)
    with pytest.raises(ValueError, match="before the first checkpoint"):
        pretrain(tiny_config(corpus), output, silent=True)
    assert not output.exists() or not any(output.iterdir())
    monkeypatch.undo()
    pretrain(tiny_config(corpus), output, silent=True)
    assert load_checkpoint(latest_checkpoint(output))["step"] == 2


def test_resumed_run_logs_a_resume_event_and_no_step_twice(corpus, tmp_path):
    output = tmp_path / "out"
    pretrain(tiny_config(corpus, training__max_steps=3, training__checkpoint_every=2,
                         training__log_every=1), output, silent=True)
    # as if killed after step 3 was logged but before its checkpoint was written
    latest = output / "checkpoints" / "latest.json"
    srsly.write_json(latest, {**srsly.read_json(latest), "file": "step-00000002.pt", "step": 2})
    shutil.rmtree(output / "final")
    pretrain(tiny_config(corpus, training__max_steps=4, training__checkpoint_every=2,
                         training__log_every=1), output, resume=True, silent=True)
    records = list(srsly.read_jsonl(output / "log.jsonl"))
    steps = [r["step"] for r in records if "event" not in r]
    assert steps == [1, 2, 3, 4]
    resumes = [r for r in records if r.get("event") == "resume"]
    assert len(resumes) == 1 and resumes[0]["step"] == 2 and resumes[0]["dropped_records"] == 1


# -- 7. the learned mix with layer norm is per doc -----------------------------------
def hand_layer_norm_mix(X, scalars, gamma):
    """numpy: gamma * sum_j softmax(s)_j (h_j - mean_j) / sqrt(var_j + 1e-12), per doc."""
    import numpy

    weights = numpy.exp(scalars) / numpy.exp(scalars).sum()
    out = numpy.zeros(X.shape[1:], dtype="float64")
    for j, h in enumerate(X.astype("float64")):
        out += weights[j] * (h - h.mean()) / numpy.sqrt(h.var() + 1e-12)
    return gamma * out


def test_layer_norm_mix_of_a_doc_does_not_depend_on_its_batch():
    import numpy
    from spacy_elmo.layers import ScalarMixLayer

    rng = numpy.random.default_rng(0)
    doc = (rng.normal(size=(3, 4, 6)) * 3 + 1).astype("float32")
    others = [(rng.normal(size=(3, n, 6)) * 10 - 5).astype("float32") for n in (9, 2)]
    scalars, gamma = [0.5, -0.3, 1.0], 1.5
    mix = ScalarMixLayer(3, scalars, gamma, layer_norm=True)
    mix.initialize()
    alone, alone_bp = mix.begin_update([doc])
    batched, batched_bp = mix.begin_update([others[0], doc, others[1]])
    numpy.testing.assert_allclose(batched[1], alone[0], atol=1e-6)
    numpy.testing.assert_allclose(alone[0], hand_layer_norm_mix(doc, numpy.array(scalars), gamma),
                                  atol=1e-5)
    d_out = rng.normal(size=(4, 6)).astype("float32")
    d_alone = alone_bp([d_out])[0]
    d_batched = batched_bp([numpy.zeros((9, 6), "float32"), d_out, numpy.zeros((2, 6), "float32")])
    numpy.testing.assert_allclose(d_batched[1], d_alone, atol=1e-6)
    assert d_batched[1].shape == doc.shape and numpy.abs(d_alone).sum() > 0


# -- 8. long docs are streamed window batch by window batch --------------------------
@pytest.mark.parametrize("fine_tune,kept", [(False, False), (True, True)])
def test_window_outputs_are_dropped_after_each_batch_unless_training(
    make_nlp, monkeypatch, fine_tune, kept
):
    import weakref

    from spacy_elmo.layers import bilm_layer

    alive_counts, refs = [], []
    convert = bilm_layer._convert_outputs

    def recording(model, inputs_outputs, is_train):
        alive_counts.append(sum(r() is not None for r in refs))
        refs.append(weakref.ref(inputs_outputs[1]))
        return convert(model, inputs_outputs, is_train)

    monkeypatch.setattr(bilm_layer, "_convert_outputs", recording)
    nlp = make_nlp(model={"max_length": 8, "window_overlap": 2, "batch_size": 1,
                          "fine_tune": fine_tune})
    doc = nlp.make_doc(" ".join(f"w{i % 13}" for i in range(60)))
    model = nlp.get_pipe("elmo").model
    if fine_tune:
        outputs, _ = model.begin_update([doc])
    else:
        outputs = model.predict([doc])
    assert len(alive_counts) > 5  # many windows, one per batch
    assert (max(alive_counts) > 0) == kept
    assert outputs[0].layers.shape[1] == 60
