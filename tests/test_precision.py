"""Reduced-precision inference (compute_dtype): accuracy against float32, the fallback
where a format cannot run, the setting everywhere it is offered."""
import json
import shutil
import warnings

import numpy
import pytest
import torch
from typer.testing import CliRunner

from spacy_elmo import load_allennlp
from spacy_elmo.cli import app
from spacy_elmo.layers import ElmoModel, ElmoSettings, get_bilm
from spacy_elmo.nn import precision

from .conftest import EWT_TEST, FIXTURES, ROOT

# Worst per-token cosine to float32 over the fixture's sentences, any layer, batched and
# one sentence at a time; measured: int8 0.99978 (mean 0.99996), bfloat16 0.99999.
INT8_MIN_COSINE, INT8_MEAN_COSINE = 0.9995, 0.9999
BF16_MIN_COSINE = 0.9999
runner = CliRunner()


@pytest.fixture(scope="module")
def sentences():
    return [s.split() for s in json.loads((FIXTURES / "sentences.json").read_text())[0]]


@pytest.fixture
def fixture_bilm(fixture_files):
    return load_allennlp(*fixture_files)


@pytest.fixture
def model_dir(tmp_path, fixture_files):
    """The fixture as a model directory (options.json + weights.hdf5)."""
    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copy(fixture_files[0], folder / "options.json")
    shutil.copy(fixture_files[1], folder / "weights.hdf5")
    return folder


@pytest.fixture
def emulated_bf16(monkeypatch):
    """bfloat16 as a CPU with native support runs it (emulated here if need be)."""
    monkeypatch.setattr(precision, "EMULATE_BF16", True)


@pytest.fixture
def fresh_probes(monkeypatch):
    """Support probes and warn-once memory of this test only."""
    monkeypatch.setattr(precision, "_probed", {})
    monkeypatch.setattr(precision, "_warned", set())
    return precision._probed


def cosines(reference, other) -> numpy.ndarray:
    """(L+1, tokens) per-token cosines."""
    a, b = (numpy.concatenate(x, axis=1).astype(numpy.float64) for x in (reference, other))
    return (a * b).sum(-1) / (numpy.linalg.norm(a, axis=-1) * numpy.linalg.norm(b, axis=-1))


@pytest.mark.parametrize("batch_size", [64, 1])
@pytest.mark.parametrize("dtype,min_cosine,mean_cosine", [
    ("int8", INT8_MIN_COSINE, INT8_MEAN_COSINE), ("bfloat16", BF16_MIN_COSINE, BF16_MIN_COSINE),
])
def test_reduced_formats_stay_close_to_float32(fixture_bilm, sentences, emulated_bf16, dtype,
                                               min_cosine, mean_cosine, batch_size):
    reference = fixture_bilm.embed(sentences, batch_size=batch_size)
    reduced = fixture_bilm.set_compute_dtype(dtype).embed(sentences, batch_size=batch_size)
    cos = cosines(reference, reduced)
    assert all(numpy.array_equal(r[0], f[0]) for r, f in zip(reference, reduced))  # float32 encoder
    assert cos.min() > min_cosine and cos.mean() > mean_cosine
    # ... and it did run in the reduced format: the LSTM layers differ from float32
    assert max(numpy.abs(r[1:] - f[1:]).max() for r, f in zip(reference, reduced)) > 1e-5


def test_int8_rows_do_not_depend_on_the_batch(fixture_bilm, sentences):
    """Each input row is quantized with its own scale: a sentence gets the same vectors
    alone, in a batch, or beside other sentences (the engine's one scale per call would
    make them depend on the batch's largest value)."""
    fixture_bilm.set_compute_dtype("int8")
    batched = fixture_bilm.embed(sentences, batch_size=64)
    alone = fixture_bilm.embed(sentences, batch_size=1)
    shuffled = fixture_bilm.embed(sentences[::-1], batch_size=3)[::-1]
    assert all(numpy.array_equal(a, b) and numpy.array_equal(a, c)
               for a, b, c in zip(batched, alone, shuffled))


def test_int8_product_is_the_per_row_7_bit_quantized_product():
    """linear_int8 against the quantization written out in float64: each input row
    scaled by its max |x|, rounded to 7 bits (scale 1/63, zero point 64), each weight row
    to int8 with its own scale; int32 sums; result times both scales, plus ``add``."""
    torch.manual_seed(0)
    weight = torch.randn(40, 24)
    x = torch.randn(5, 24) * torch.tensor([[1e-3], [0.5], [1.0], [30.0], [1e4]])
    add = torch.randn(5, 40)
    w_scale = weight.abs().amax(1, keepdim=True).double() / 127
    q_w = torch.round(weight.double() / w_scale)
    x_scale = x.abs().amax(1, keepdim=True).double()
    q_x = torch.round(x.double() / x_scale * 63)  # the zero point cancels out
    expected = (q_x @ q_w.t()) * (x_scale / 63) * w_scale.t()
    got = precision.linear_int8(x, precision.pack_int8(weight))
    step = (x_scale / 63) * weight.abs().amax().double()  # one input step, one row's worth
    assert ((got.double() - expected).abs() <= 1e-5 * expected.abs() + 1e-3 * step).all()
    added = precision.linear_int8(x, precision.pack_int8(weight), add.clone())
    assert torch.allclose(added, got + add, rtol=1e-6, atol=1e-6 * float(got.abs().max()))


def test_int8_without_the_fixed_scale_op_gives_the_same_vectors(fixture_bilm, sentences,
                                                                fresh_probes):
    """Where torch lacks the fixed-scale product, the dynamic one with a range row
    quantizes every row alike: the same vectors, bit for bit."""
    fixture_bilm.set_compute_dtype("int8")
    fast = fixture_bilm.embed(sentences, batch_size=16)
    fresh_probes["int8_fixed_scale"] = False
    fallback = fixture_bilm.embed(sentences, batch_size=16)
    assert "int8_fixed_scale" in fresh_probes and fresh_probes["int8_fixed_scale"] is False
    assert all(numpy.array_equal(a, b) for a, b in zip(fast, fallback))


def test_reduced_cell_matches_the_lstm_equations():
    """The reduced formats' cell (tanh as 2 sigmoid(2x) - 1, on z_g doubled by the
    weights) against the equations in float64: within float32 rounding."""
    from spacy_elmo.nn.lstm import BiLstmLayer

    torch.manual_seed(1)
    layer = BiLstmLayer(4, 6, 3, cell_clip=1.5)
    z, c = torch.randn(5, 24) * 3, torch.randn(5, 6)
    i, f, o, g = z.double().split(6, dim=1)
    c_ref = (torch.sigmoid(f) * c.double() + torch.sigmoid(i) * torch.tanh(g)).clamp(-1.5, 1.5)
    out_ref = torch.sigmoid(o) * torch.tanh(c_ref)
    z2 = layer._double_g(z.t()).t()  # (4C, n) rows doubled, as the weights are
    c_new = c.clone()
    out = layer._cell_2g(z2.contiguous(), c_new)
    assert (c_new.double() - c_ref).abs().max() < 1e-6
    assert (out.double() - out_ref).abs().max() < 1e-6


def test_reduced_copies_replace_the_float32_ones(fixture_bilm, sentences):
    fixture_bilm.requires_grad_(False)  # frozen: its store of derived values is kept
    fixture_bilm.embed(sentences[:4], batch_size=4)
    layer = fixture_bilm.lstm.layers[0]

    def layer_values():
        store = fixture_bilm.inference_values()
        return {name: value for (owner, name), value in store._values.items()
                if owner == id(layer) and name != "first_step"}  # weights only, not the step

    float32_keys = set(layer_values())
    fixture_bilm.set_compute_dtype("int8").embed(sentences[:4], batch_size=4)
    kept = layer_values()
    assert kept and all(name[0] == "reduced" and name[2] == "int8" for name in kept)
    assert not set(kept) & float32_keys
    assert all(not isinstance(w, torch.Tensor) or w.dtype != torch.float32 for w in kept.values())


def test_switching_formats_drops_cached_outputs(fixture_bilm, sentences):
    first = fixture_bilm.embed(sentences, batch_size=8)
    int8 = fixture_bilm.set_compute_dtype("int8").embed(sentences, batch_size=8)
    again = fixture_bilm.set_compute_dtype("float32").embed(sentences, batch_size=8)
    assert any(not numpy.array_equal(a, b) for a, b in zip(first, int8))
    assert all(numpy.array_equal(a, b) for a, b in zip(first, again))


def test_auto_runs_int8_where_it_pays(fixture_bilm, sentences):
    cpu, big, native = torch.device("cpu"), precision.AUTO_INT8_MIN_WEIGHTS, precision.bf16_native(torch.device("cpu"))
    assert precision.formats("auto", cpu, big) == ("bfloat16" if native else "int8", "int8")
    assert precision.formats("auto", cpu, big - 1) == ("bfloat16",) * 2 if native else ("float32",) * 2
    # the fixture's LSTMs (16 x 256) are far below the size where int8 pays: float32
    reference = fixture_bilm.embed(sentences[:3], batch_size=1)
    auto = fixture_bilm.set_compute_dtype("auto").embed(sentences[:3], batch_size=1)
    assert native or all(numpy.array_equal(a, b) for a, b in zip(auto, reference))


@pytest.mark.parametrize("dtype,probe,code", [("bfloat16", "bf16", "W910"), ("int8", "int8", "W911")])
def test_unsupported_format_warns_once_and_runs_float32(fixture_bilm, sentences, fresh_probes,
                                                        dtype, probe, code):
    fresh_probes[probe] = False
    reference = fixture_bilm.embed(sentences, batch_size=8)
    fixture_bilm.set_compute_dtype(dtype)
    with pytest.warns(UserWarning, match=code):
        fallback = fixture_bilm.embed(sentences, batch_size=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fixture_bilm.embed(sentences[:2], batch_size=1)  # said once only
    assert all(numpy.array_equal(a, b) for a, b in zip(reference, fallback))


def test_bf16_support_read_from_cpu_flags_without_onednn(monkeypatch, tmp_path):
    def missing():
        raise RuntimeError("no such op")

    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", missing)
    monkeypatch.setattr(precision, "Path", lambda _: tmp_path / "cpuinfo")
    assert precision.cpu_has_bf16() is False  # no file: not supported
    (tmp_path / "cpuinfo").write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f\n")
    assert precision.cpu_has_bf16() is False
    (tmp_path / "cpuinfo").write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16 amx_tile\n")
    assert precision.cpu_has_bf16() is True


def test_unknown_compute_dtype_is_one_coded_error(fixture_bilm, tmp_path, model_dir):
    with pytest.raises(ValueError, match=r"\[E900\].*'fp8'"):
        fixture_bilm.set_compute_dtype("fp8")
    with pytest.raises(ValueError, match="E900"):
        ElmoSettings(compute_dtype="half")
    text = tmp_path / "in.txt"
    text.write_text("a b\n", encoding="utf8")
    result = runner.invoke(app, ["embed", str(text), str(tmp_path / "o.hdf5"), "--model",
                                 str(model_dir), "--compute-dtype", "fp8"])
    assert result.exit_code == 1 and "[E900]" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o.hdf5").exists()


def test_model_setting_reaches_the_bilm(fixture_bilm):
    settings = ElmoSettings(compute_dtype="int8")
    assert get_bilm(ElmoModel(fixture_bilm.options, settings)).compute_dtype == "int8"
    assert get_bilm(ElmoModel(fixture_bilm.options, ElmoSettings())).compute_dtype == "float32"


def test_embed_command_compute_dtype(tmp_path, fixture_files, model_dir, sentences):
    import h5py

    text = tmp_path / "in.txt"
    text.write_text("\n".join(" ".join(s) for s in sentences) + "\n", encoding="utf8")
    outputs = {}
    for dtype in ("float32", "int8"):
        out = tmp_path / f"{dtype}.hdf5"
        result = runner.invoke(app, ["embed", str(text), str(out), "--model", str(model_dir),
                                     "--compute-dtype", dtype])
        assert result.exit_code == 0, result.output
        with h5py.File(out, "r") as handle:
            outputs[dtype] = [handle[str(i)][...] for i in range(len(sentences))]
    expected = load_allennlp(*fixture_files, compute_dtype="int8").embed(sentences)
    assert all(numpy.array_equal(a, b) for a, b in zip(outputs["int8"], expected))
    assert cosines(outputs["float32"], outputs["int8"]).min() > INT8_MIN_COSINE


@pytest.mark.slow  # the committed small-size biLM, three evaluations
def test_evaluate_compute_dtype_keeps_the_perplexity(tmp_path):
    """The committed biLM on EWT test text: int8 and bfloat16 within 1% of float32."""
    from spacy_elmo.pretrain.evaluate import evaluate

    lines = []
    for line in EWT_TEST.read_text(encoding="utf8").splitlines():
        if line.startswith("# text = "):
            lines.append(line[len("# text = "):])
    text = tmp_path / "heldout.txt"
    text.write_text("\n".join(lines[:60]) + "\n", encoding="utf8")
    model = ROOT / "project" / "results" / "bilm"
    base = evaluate(model, text)["average"]
    precision.EMULATE_BF16, before = True, precision.EMULATE_BF16
    try:
        for dtype in ("int8", "bfloat16"):
            result = runner.invoke(app, ["evaluate", str(model), str(text), "--compute-dtype", dtype])
            assert result.exit_code == 0, result.output
            average = json.loads(result.output.strip().splitlines()[-1])["average"]
            assert average != base and abs(average / base - 1) < 0.01
    finally:
        precision.EMULATE_BF16 = before
