"""Sizes and values checked before anything is allocated, and torch files that load but
hold the wrong content: one coded line each, naming the file (issue 23 items 5 and 6)."""
import resource
import shutil
from pathlib import Path

import h5py
import numpy
import pytest
import spacy
import srsly
import torch

from spacy_elmo import BiLM, ElmoOptions
from spacy_elmo.elmo_format import load_weights, read_options
from spacy_elmo.pretrain import pretrain
from spacy_elmo.pretrain.checkpoint import existing_run, latest_checkpoint

from .run_helpers import run_copy, run_dir, tiny_config  # noqa: F401 (fixtures)
from .test_safety import one_line, run_cli


# -- options: sizes and values ---------------------------------------------------------
def _edit_options(path: Path, edit) -> Path:
    cfg = srsly.read_json(path)
    edit(cfg)
    srsly.write_json(path, cfg)
    return path


@pytest.mark.parametrize("section,key,value,code", [
    ("lstm", "dim", 10**9, "E019"),
    ("lstm", "n_layers", 10**6, "E018"),
    ("lstm", "projection_dim", 0, "E015"),
    ("lstm", "cell_clip", -1.0, "E015"),
    ("char_cnn", "filters", [[-1, 32]], "E016"),
    ("char_cnn", "filters", [[1, 32, 5]], "E016"),
    ("char_cnn", "filters", [[1]], "E016"),
    ("char_cnn", "filters", "1,32", "E016"),
    ("char_cnn", "filters", [], "E016"),
    ("char_cnn", "filters", [[51, 4]], "E017"),
    ("char_cnn", "n_highway", -1, "E015"),
    ("char_cnn", "n_highway", 10**6, "E018"),
])
def test_bad_sizes_in_options_json_are_one_coded_error_naming_it(
    copied_model_files, section, key, value, code
):
    options_path, _ = copied_model_files
    _edit_options(options_path, lambda cfg: cfg[section].__setitem__(key, value))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ValueError) as err:
        read_options(options_path)
    assert f"[{code}]" in str(err.value) and str(options_path) in str(err.value)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 50_000  # nothing of the size asked for was allocated


def test_embed_with_a_huge_model_is_one_line_and_writes_nothing(copied_model_files, tmp_path):
    options_path, _ = copied_model_files
    _edit_options(options_path, lambda cfg: cfg["lstm"].__setitem__("dim", 10**9))
    text = tmp_path / "in.txt"
    text.write_text("a b c\n", encoding="utf8")
    result = run_cli("embed", text, tmp_path / "out.hdf5", "--model", options_path.parent)
    assert result.exit_code == 1 and "[E019]" in one_line(result)
    assert "Traceback" not in result.output and not (tmp_path / "out.hdf5").exists()


def test_parameter_count_is_what_a_bilm_holds(tiny_options):
    bilm = BiLM(tiny_options)
    held = sum(p.numel() for p in bilm.parameters()) + bilm.initial_h.numel() + bilm.initial_c.numel()
    assert tiny_options.n_parameters == held
    efml = tiny_options.replace(token_encoder="efml", n_characters=30, word_dim=6, n_words=40)
    bilm = BiLM(efml)
    held = sum(p.numel() for p in bilm.parameters()) + bilm.initial_h.numel() + bilm.initial_c.numel()
    assert efml.n_parameters == held


def test_keyword_options_are_checked_too(tiny_options):
    with pytest.raises(ValueError, match=r"\[E015\] n_highway must be an integer >= 0, found -2"):
        tiny_options.replace(n_highway=-2)
    with pytest.raises(ValueError, match=r"\[E015\] lstm_dim must be a positive integer"):
        tiny_options.replace(lstm_dim=True)


# -- pretraining sizes, evaluate batch size ---------------------------------------------
@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("the cat sat on the mat\na dog ran in the park\n" * 3, encoding="utf8")
    return path


@pytest.mark.parametrize("key", ["training.unroll_steps", "training.batch_size"])
def test_huge_training_sizes_fail_before_anything_is_written(corpus, tmp_path, key):
    output = tmp_path / "run"
    overrides = {key.replace(".", "__"): 10**9, "training__mode": "window"}
    with pytest.raises(ValueError, match=r"\[E350\].*Nothing was written"):
        pretrain(tiny_config(corpus, **overrides), output, silent=True)
    assert not output.exists() or existing_run(output) == []
    pretrain(tiny_config(corpus, training__max_steps=1), output, silent=True)  # a retry works


@pytest.mark.parametrize("size", ["0", "-3"])
def test_evaluate_batch_size_below_one_is_one_line(run_dir, corpus, size):
    result = run_cli("evaluate", run_dir, corpus, "--batch-size", size)
    assert result.exit_code == 1
    assert f"[E405] --batch-size must be a positive integer, found {size}" in one_line(result)


# -- NaN / Inf, wherever weights come from ----------------------------------------------
def _edit_pipeline_state(pipeline: Path, edit) -> None:
    model_file = pipeline / "elmo" / "model"
    msg = srsly.msgpack_loads(model_file.read_bytes())
    shim = srsly.msgpack_loads(msg["shims"][1][0])  # node 1: the biLM layer
    state = torch.load(__import__("io").BytesIO(shim["state"]), weights_only=True)
    edit(state)
    handle = __import__("io").BytesIO()
    torch.save(state, handle)
    shim["state"] = handle.getvalue()
    msg["shims"][1][0] = srsly.msgpack_dumps(shim)
    model_file.write_bytes(srsly.msgpack_dumps(msg))


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_pipeline_with_non_finite_weights_is_refused(tiny_pipeline_dir, tmp_path, value):
    pipeline = Path(shutil.copytree(tiny_pipeline_dir, tmp_path / "pipeline"))
    key = "bilm.lstm.layers.0.w_proj"
    _edit_pipeline_state(pipeline, lambda state: state[key].view(-1)[3].fill_(value))
    with pytest.raises(ValueError, match=rf"elmo/model.*\[E530\].*'{key}' holds NaN or Inf"):
        spacy.load(pipeline)
    text = tmp_path / "in.txt"
    text.write_text("a b c\n", encoding="utf8")
    result = run_cli("embed", text, tmp_path / "out.hdf5", "--model", pipeline)
    assert result.exit_code == 1 and "[E530]" in one_line(result)
    assert not (tmp_path / "out.hdf5").exists()


def _rewrite_checkpoint(run: Path, edit) -> Path:
    shutil.rmtree(run / "final")  # evaluate then reads the checkpoint
    path = latest_checkpoint(run)
    data = torch.load(path, weights_only=True)
    edit(data)
    torch.save(data, path)
    return path


@pytest.mark.parametrize("edit,expected", [
    (lambda d: d.pop("model"), "[E533]"),
    (lambda d: d.__setitem__("model", [1, 2]), "[E533]"),
    (lambda d: d["model"]["head.bias"].fill_(float("nan")), "[E530]"),
    (lambda d: d["model"].__setitem__("head.bias", torch.zeros(3)), "[E532]"),
])
def test_checkpoint_with_wrong_content_is_one_line_naming_it(run_copy, corpus, edit, expected):
    path = _rewrite_checkpoint(run_copy, edit)
    result = run_cli("evaluate", run_copy, corpus)
    assert result.exit_code == 1 and expected in one_line(result)
    assert path.name in one_line(result) and "Traceback" not in result.output


def test_resume_from_a_checkpoint_without_model_is_one_line(run_copy, corpus):
    _rewrite_checkpoint(run_copy, lambda d: d.pop("model"))
    with pytest.raises(ValueError, match=r"step-\d+\.pt is not a spacy-elmo file.*'model'"):
        pretrain(tiny_config(corpus, training__max_steps=3), run_copy, resume=True, silent=True)


@pytest.mark.parametrize("head,expected", [
    ({"weight": torch.zeros(3, 16), "bias": torch.zeros(3)}, "[E532]"),
    ({"weight": torch.zeros(3, 16)}, "[E532]"),
    ([torch.zeros(3)], "[E531]"),
    ("nan", "[E530]"),
])
def test_lm_head_with_wrong_content_is_one_line_naming_it(run_copy, corpus, head, expected):
    path = run_copy / "final" / "lm_head.pt"
    if head == "nan":
        head = torch.load(path, weights_only=True)
        head["weight"][0, 0] = float("nan")
    torch.save(head, path)
    result = run_cli("evaluate", run_copy, corpus)
    assert result.exit_code == 1 and expected in one_line(result)
    assert "lm_head.pt" in one_line(result) and "Traceback" not in result.output


def test_edited_vocab_in_a_run_folder_is_one_line(run_copy, corpus):
    for vocab in (run_copy / "vocab.txt", run_copy / "final" / "vocab.txt"):
        with vocab.open("a", encoding="utf8") as handle:
            handle.write("newword\n")
    result = run_cli("evaluate", run_copy, corpus)
    assert result.exit_code == 1 and "[E532]" in one_line(result) and "lm_head.pt" in one_line(result)
    shutil.rmtree(run_copy / "final")
    result = run_cli("evaluate", run_copy, corpus)
    assert result.exit_code == 1 and "[E532]" in one_line(result) and ".pt" in one_line(result)


def test_edited_config_in_a_run_folder_is_one_line(run_copy, corpus):
    shutil.rmtree(run_copy / "final")
    config = run_copy / "config.cfg"
    config.write_text(config.read_text(encoding="utf8").replace(
        "projection_dim = 16", "projection_dim = 12"), encoding="utf8")
    result = run_cli("evaluate", run_copy, corpus)
    assert result.exit_code == 1 and "[E532]" in one_line(result) and "Traceback" not in result.output


# -- HDF5: complex values, groups and links where a dataset belongs ---------------------
NAME = "CNN/b_cnn_0"


def _replace_dataset(weights: Path, make) -> None:
    with h5py.File(weights, "r+") as handle:
        old = handle[NAME][...]
        del handle[NAME]
        make(handle, old)


@pytest.mark.parametrize("make,code", [
    (lambda h, old: h.create_dataset(NAME, data=old.astype(numpy.complex64) + 1j), "E020"),
    (lambda h, old: h.create_group(NAME), "E021"),
    (lambda h, old: h.__setitem__(NAME, h5py.SoftLink("/nowhere")), "E022"),
    (lambda h, old: h.__setitem__(NAME, h5py.ExternalLink("missing.hdf5", "/x")), "E022"),
    (lambda h, old: h.create_dataset(NAME, data=numpy.full(old.shape, numpy.inf)), "E012"),
])
def test_hdf5_weights_of_the_wrong_kind_name_file_and_dataset(copied_model_files, tiny_options, make, code):
    options_path, weights_path = copied_model_files
    _replace_dataset(weights_path, make)
    with pytest.raises(ValueError) as err:
        load_weights(BiLM(read_options(options_path)), weights_path)
    message = str(err.value)
    assert f"[{code}]" in message and str(weights_path) in message and NAME in message
