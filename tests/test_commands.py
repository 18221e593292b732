"""python -m spacy_elmo convert / embed."""
import importlib.metadata
import json
import shutil
import subprocess
import sys

import h5py
import numpy
import pytest
import spacy
from typer.testing import CliRunner

from spacy_elmo.cli import app
from spacy_elmo.embed_file import embed_file
from spacy_elmo.nn import Embedder

from .component_helpers import reference_layers

SENTENCES = [
    "The cat sat on the mat .",
    "Short one",
    "A considerably longer sentence , with 42 numbers and words in it .",
    "The cat sat on the mat .",
    "Naïve café 世界 🙂",
    "Last line",
]
runner = CliRunner()


@pytest.fixture
def input_txt(tmp_path):
    path = tmp_path / "input.txt"
    path.write_text("\n".join(SENTENCES) + "\n", encoding="utf8")
    return path


def _read(path):
    with h5py.File(path, "r") as handle:
        index = json.loads(handle["sentence_to_index"][0])
        arrays = {key: handle[key][...] for key in handle if key != "sentence_to_index"}
    return arrays, index


def _embed(*args):
    return runner.invoke(app, ["embed", *map(str, args)])


def _text(result) -> str:
    """The command's output with wasabi's line wrapping undone."""
    return " ".join(result.output.split())


def test_convert_command_writes_a_loadable_pipeline(tiny_files, tiny_bilm, tmp_path):
    out = tmp_path / "pipeline"
    result = runner.invoke(app, ["convert", *map(str, tiny_files), str(out), "--lang", "de"])
    assert result.exit_code == 0, result.output
    nlp = spacy.load(out)
    assert nlp.lang == "de" and nlp.pipe_names == ["elmo"]
    doc = nlp("Der Hund schläft")
    numpy.testing.assert_allclose(doc._.elmo_layers, reference_layers(tiny_bilm, doc), atol=1e-5)


def test_embed_all_layers_match_the_bilm(input_txt, tmp_path, tiny_pipeline_dir, tiny_bilm):
    out = tmp_path / "out.hdf5"
    result = _embed(input_txt, out, "--model", tiny_pipeline_dir)
    assert result.exit_code == 0, result.output
    arrays, index = _read(out)
    assert sorted(arrays, key=int) == [str(i) for i in range(len(SENTENCES))]
    expected = tiny_bilm.embed([s.split() for s in SENTENCES])
    for i, layers in enumerate(expected):
        assert arrays[str(i)].dtype == numpy.float32 and arrays[str(i)].shape == layers.shape
        numpy.testing.assert_allclose(arrays[str(i)], layers, atol=1e-5)
    # a repeated sentence maps to its last line, as in the original command
    assert index == {s: str(i) for i, s in enumerate(SENTENCES)}
    assert index[SENTENCES[0]] == "3"


@pytest.mark.parametrize("flag,reduce", [("--top", lambda x: x[-1]),
                                         ("--average", lambda x: x.mean(axis=0))])
def test_embed_top_and_average(input_txt, tmp_path, tiny_files, tiny_bilm, flag, reduce):
    out = tmp_path / "out.hdf5"
    model_dir = tiny_files[0].parent  # options.json + weights.hdf5
    assert _embed(input_txt, out, "--model", model_dir, flag, "--batch-size", 2).exit_code == 0
    arrays, _ = _read(out)
    for i, layers in enumerate(tiny_bilm.embed([s.split() for s in SENTENCES])):
        numpy.testing.assert_allclose(arrays[str(i)], reduce(layers), atol=1e-5)


def test_embed_shards_partition_the_lines(input_txt, tmp_path, tiny_pipeline_dir):
    assert _embed(input_txt, tmp_path / "all.hdf5", "--model", tiny_pipeline_dir).exit_code == 0
    full, _ = _read(tmp_path / "all.hdf5")
    seen = {}
    for k in range(4):
        out = tmp_path / f"shard{k}.hdf5"
        result = _embed(input_txt, out, "--model", tiny_pipeline_dir, "--shard", f"{k}/4")
        assert result.exit_code == 0
        arrays, index = _read(out)
        assert sorted(map(int, arrays)) == list(range(k, len(SENTENCES), 4))
        assert set(index.values()) == set(arrays)
        seen.update(arrays)
    assert sorted(seen) == sorted(full)
    for key, array in seen.items():
        numpy.testing.assert_allclose(array, full[key], atol=1e-6)


def test_embed_reproduces_tensorflow_outputs(fixture_dir, tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    shutil.copy(fixture_dir / "options.json", model_dir / "options.json")
    shutil.copy(fixture_dir / "lm_weights.hdf5", model_dir / "weights.hdf5")
    first = json.loads((fixture_dir / "sentences.json").read_text())[0][0]
    (tmp_path / "in.txt").write_text(first + "\n", encoding="utf8")
    assert _embed(tmp_path / "in.txt", tmp_path / "out.hdf5", "--model", model_dir,
                  "--top").exit_code == 0
    arrays, _ = _read(tmp_path / "out.hdf5")
    with h5py.File(fixture_dir / "lm_embeddings_0.hdf5", "r") as handle:
        expected = numpy.concatenate(handle["0"][...], axis=-1)  # [forward; backward]
    numpy.testing.assert_allclose(arrays["0"], expected, atol=1e-5)


def test_embed_streams_in_bounded_chunks(input_txt, tmp_path, tiny_bilm, monkeypatch):
    sizes = []
    original = Embedder.__call__

    def recording(self, sentences):
        sizes.append(len(sentences))
        return original(self, sentences)

    monkeypatch.setattr(Embedder, "__call__", recording)
    n = embed_file(input_txt, tmp_path / "out.hdf5", tiny_bilm, chunk_size=2, progress=False)
    assert n == len(SENTENCES) and sizes == [2, 2, 2]
    assert len(_read(tmp_path / "out.hdf5")[0]) == len(SENTENCES)


def test_embed_without_a_model_fails_clearly(input_txt, tmp_path):
    result = _embed(input_txt, tmp_path / "out.hdf5")
    assert result.exit_code == 1
    assert "--model" in _text(result) and "Nothing is ever downloaded" in _text(result)
    assert not (tmp_path / "out.hdf5").exists()


def test_embed_refuses_empty_lines_before_writing(tmp_path, tiny_pipeline_dir):
    (tmp_path / "in.txt").write_text("one line\ntwo words\n   \nfour\n", encoding="utf8")
    with pytest.raises(ValueError, match=r"in.txt, line 3: empty sentence"):
        embed_file(tmp_path / "in.txt", tmp_path / "out.hdf5", tiny_pipeline_dir, progress=False)
    assert not (tmp_path / "out.hdf5").exists()


@pytest.mark.parametrize("args,message", [
    (["--shard", "4/4"], "--shard must be K/N"),
    (["--shard", "x"], "--shard must be K/N"),
    (["--top", "--average"], "at most one of --all, --top and --average"),
    (["--batch-size", "0"], "--batch-size must be a positive integer"),
])
def test_embed_refuses_bad_options(input_txt, tmp_path, tiny_pipeline_dir, args, message):
    result = _embed(input_txt, tmp_path / "out.hdf5", "--model", tiny_pipeline_dir, *args)
    assert result.exit_code == 1 and message in _text(result)


def test_embed_names_a_model_directory_it_cannot_read(input_txt, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"empty: expected options.json \+ weights.hdf5"):
        embed_file(input_txt, tmp_path / "out.hdf5", tmp_path / "empty", progress=False)


def test_help_texts_keep_brackets_and_whole_sentences():
    result = runner.invoke(app, ["vocab", "--help"])
    assert result.exit_code == 0 and "[paths] vocab" in " ".join(result.output.split())
    listing = runner.invoke(app, ["--help"]).output
    commands = listing[listing.index("Commands:"):].splitlines()[1:]
    summaries = {line.split()[0]: " ".join(line.split()[1:]) for line in commands if line.strip()}
    assert set(summaries) == {"pretrain", "evaluate", "vocab", "adapt", "convert", "download", "embed"}
    # each summary is one whole sentence: not cut ("...") and not broken over lines
    assert all(text.endswith(".") and not text.endswith("...") for text in summaries.values()), summaries
    evaluate = " ".join(runner.invoke(app, ["evaluate", "--help"]).output.split())
    assert "a pipeline from `convert` cannot be evaluated" in evaluate


def test_evaluate_says_a_converted_pipeline_cannot_be_evaluated(tiny_pipeline_dir, tmp_path):
    text = tmp_path / "heldout.txt"
    text.write_text("The cat sat .\n", encoding="utf8")
    result = runner.invoke(app, ["evaluate", str(tiny_pipeline_dir), str(text)])
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert f"No model found in {tiny_pipeline_dir}" in output
    assert "a pipeline from `convert` (or original options.json + weights.hdf5 alone) cannot be evaluated" in output


# -- the command line starts without torch -------------------------------------------
HEAVY = ("torch", "spacy", "thinc", "h5py")


@pytest.mark.slow
@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_import_no_torch(flag):
    """``python -m spacy_elmo --help``/``--version`` import none of the heavy libraries
    (read from -X importtime, which lists every module the process imported)."""
    run = subprocess.run([sys.executable, "-X", "importtime", "-m", "spacy_elmo", flag],
                         capture_output=True, text=True, check=True)
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0]
                for line in run.stderr.splitlines() if line.startswith("import time:")}
    assert "typer" in imported  # the reader sees the imports
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))
    if flag == "--version":
        assert run.stdout.strip() == f"spacy-elmo {importlib.metadata.version('spacy-elmo')}"


def test_version_is_the_installed_package_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"spacy-elmo {importlib.metadata.version('spacy-elmo')}"


@pytest.mark.parametrize("argv,orig_argv,expected", [
    (["-m", "--help"], ["python", "-X", "importtime", "-m", "spacy_elmo", "--help"], True),
    (["/venv/bin/spacy-elmo", "--help"], ["python", "/venv/bin/spacy-elmo", "--help"], True),
    (["-m", "-q"], ["python", "-m", "pytest", "-q"], False),  # another -m program imports us
    (["script.py"], ["python", "script.py"], False),
    ([], [], False),
])
def test_only_the_command_line_skips_installing_the_extensions(monkeypatch, argv, orig_argv, expected):
    """``import spacy_elmo`` installs doc._.elmo & co. everywhere but in the command line's
    own start (python -m spacy_elmo, the spacy-elmo script), which must not import spaCy."""
    import spacy_elmo

    monkeypatch.setattr(sys, "argv", argv)
    monkeypatch.setattr(sys, "orig_argv", orig_argv)
    assert spacy_elmo._started_as_command_line() is expected
