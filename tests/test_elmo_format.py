"""Reading and writing options.json + weights.hdf5 in the original layout."""
import json

import h5py
import numpy
import pytest

from spacy_elmo import ElmoOptions, load_allennlp, save_allennlp
from spacy_elmo.elmo_format import read_options

from .conftest import random_bilm

WORDS = [["A", "small", "test", "."], ["Another", "one"]]


def _datasets(path):
    found = {}

    def collect(name, obj):
        if isinstance(obj, h5py.Dataset):
            found[name] = obj[...]

    with h5py.File(path, "r") as f:
        f.visititems(collect)
    return found


def test_fixture_round_trips_bit_identical(fixture_dir, tmp_path):
    bilm = load_allennlp(fixture_dir / "options.json", fixture_dir / "lm_weights.hdf5")
    save_allennlp(bilm, tmp_path / "options.json", tmp_path / "weights.hdf5")
    original, saved = _datasets(fixture_dir / "lm_weights.hdf5"), _datasets(tmp_path / "weights.hdf5")
    assert set(saved) == set(original)
    for name, value in original.items():
        assert saved[name].shape == value.shape, name
        assert numpy.array_equal(saved[name], value), name
    reloaded = load_allennlp(tmp_path / "options.json", tmp_path / "weights.hdf5")
    for a, b in zip(bilm.embed(WORDS), reloaded.embed(WORDS)):
        assert numpy.array_equal(a, b)


def test_random_model_round_trips(tiny_options, tmp_path):
    bilm = random_bilm(tiny_options, seed=7)
    save_allennlp(bilm, tmp_path / "o.json", tmp_path / "w.hdf5")
    reloaded = load_allennlp(tmp_path / "o.json", tmp_path / "w.hdf5")
    for (name, a), (_, b) in zip(bilm.state_dict().items(), reloaded.state_dict().items()):
        assert numpy.array_equal(a.numpy(), b.numpy()), name
    assert reloaded.options == tiny_options


def test_save_creates_missing_folders(tiny_options, tmp_path):
    bilm = random_bilm(tiny_options, seed=3)
    options_file, weight_file = tmp_path / "out" / "options.json", tmp_path / "w" / "a" / "weights.hdf5"
    save_allennlp(bilm, options_file, weight_file)
    reloaded = load_allennlp(options_file, weight_file)
    for a, b in zip(bilm.embed(WORDS), reloaded.embed(WORDS)):
        assert numpy.array_equal(a, b)


def test_written_layout_uses_original_names_and_shapes(tiny_options, tmp_path):
    save_allennlp(random_bilm(tiny_options), tmp_path / "o.json", tmp_path / "w.hdf5")
    data = _datasets(tmp_path / "w.hdf5")
    F, P, C = tiny_options.n_filters, tiny_options.projection_dim, tiny_options.lstm_dim
    assert data["char_embed"].shape == (261, tiny_options.char_dim)
    assert data["CNN/W_cnn_2"].shape == (1, 3, tiny_options.char_dim, 8)
    assert data["CNN_high_0/W_carry"].shape == (F, F)
    assert data["CNN_proj/W_proj"].shape == (F, P)
    cell = "RNN_1/RNN/MultiRNNCell/Cell1/LSTMCell/"
    assert data[cell + "W_0"].shape == (P + P, 4 * C)
    assert data[cell + "B"].shape == (4 * C,)
    assert data[cell + "W_P_0"].shape == (C, P)
    options = json.loads((tmp_path / "o.json").read_text())
    assert options["char_cnn"]["n_characters"] == 262
    assert options["lstm"]["dim"] == C


def test_forget_bias_is_not_stored(fixture_dir):
    # The file's bias excludes TF's forget_bias: the loaded layer adds exactly 1.0 at run time.
    bilm = load_allennlp(fixture_dir / "options.json", fixture_dir / "lm_weights.hdf5")
    layer = bilm.lstm.layers[0]
    C = layer.cell_dim
    with h5py.File(fixture_dir / "lm_weights.hdf5", "r") as f:
        tf_bias = f["RNN_0/RNN/MultiRNNCell/Cell0/LSTMCell/B"][...]
    # TF order (i, j, f, o); ours (i, f, o, g)
    numpy.testing.assert_array_equal(layer.bias[0, C : 2 * C].detach().numpy(), tf_bias[2 * C : 3 * C])
    assert layer.forget_offset[C : 2 * C].eq(1.0).all() and layer.forget_offset[:C].eq(0).all()


def test_missing_options_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"^\[E001\] Options file .*nothere\.json not found"):
        read_options(tmp_path / "nothere.json")


def test_options_missing_key_is_named(tmp_path):
    path = tmp_path / "o.json"
    path.write_text(json.dumps({"lstm": {"dim": 8}, "char_cnn": {}}))
    with pytest.raises(ValueError, match=r"o\.json.*missing key 'projection_dim'"):
        read_options(path)


def test_training_options_261_are_accepted(fixture_dir):
    cfg = json.loads((fixture_dir / "options.json").read_text())
    cfg["char_cnn"]["n_characters"] = 261
    options = ElmoOptions.from_dict(cfg)
    assert options.embedding_rows == 262
    with pytest.raises(ValueError, match="found 300"):
        options.replace(n_characters=300)


def test_missing_weights_file_is_named(fixture_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.hdf5"):
        load_allennlp(fixture_dir / "options.json", tmp_path / "absent.hdf5")


def test_missing_dataset_is_named(tiny_model_files, tmp_path):
    options_path, weights_path = tiny_model_files
    with h5py.File(weights_path, "a") as f:
        del f["CNN_high_0/W_carry"]
    with pytest.raises(ValueError, match=r"weights\.hdf5 has no dataset 'CNN_high_0/W_carry' \(expected shape \(20, 20\)\)"):
        load_allennlp(options_path, weights_path)


def test_options_inconsistent_with_weights_name_shapes(tiny_model_files, tiny_options):
    options_path, weights_path = tiny_model_files
    cfg = json.loads(options_path.read_text())
    cfg["lstm"]["dim"] = 64
    options_path.write_text(json.dumps(cfg))
    with pytest.raises(ValueError) as err:
        load_allennlp(options_path, weights_path)
    message = str(err.value)
    assert "weights.hdf5" in message and "RNN_0/RNN/MultiRNNCell/Cell0/LSTMCell/W_0" in message
    assert "expected shape (16, 256), found (16, 128)" in message


def test_not_an_hdf5_file(fixture_dir, tmp_path):
    path = tmp_path / "garbage.hdf5"
    path.write_bytes(b"not hdf5 at all")
    with pytest.raises(ValueError, match="garbage.hdf5 is not a readable HDF5 file"):
        load_allennlp(fixture_dir / "options.json", path)


def test_non_finite_weights_are_refused(tiny_model_files):
    options_path, weights_path = tiny_model_files
    with h5py.File(weights_path, "a") as f:
        f["CNN_proj/b_proj"][0] = numpy.nan
    with pytest.raises(ValueError, match="'CNN_proj/b_proj' holds non-finite values"):
        load_allennlp(options_path, weights_path)
