"""The biLM against the numbers the original TensorFlow implementation computed."""
import h5py
import numpy
import pytest
import srsly
import torch

from spacy_elmo import Embedder, load_allennlp
from spacy_elmo.nn.chars import vocabulary_char_ids


@pytest.fixture(scope="module")
def fixture_bilm(fixture_dir):
    return load_allennlp(fixture_dir / "options.json", fixture_dir / "lm_weights.hdf5")


@pytest.fixture(scope="module")
def batches(fixture_dir):
    lists = [[s.split() for s in lst] for lst in srsly.read_json(fixture_dir / "sentences.json")]
    return [[lists[k][i] for k in range(3)] for i in range(10)]


def expected_top(fixture_dir, k, i):
    with h5py.File(fixture_dir / f"lm_embeddings_{k}.hdf5", "r") as f:
        fwd, bwd = f[str(i)][...]
    return numpy.concatenate([fwd, bwd], axis=-1)


def test_token_encoder_matches_every_vocabulary_word(fixture_bilm, fixture_dir):
    words = (fixture_dir / "vocab_test.txt").read_text(encoding="utf8").split("\n")
    words = [w for w in words if w]
    with h5py.File(fixture_dir / "elmo_token_embeddings.hdf5", "r") as f:
        expected = f["embedding"][...]
    assert len(words) == expected.shape[0] == 458
    with torch.no_grad():
        found = fixture_bilm.token_encoder(torch.from_numpy(vocabulary_char_ids(words))).numpy()
    numpy.testing.assert_allclose(found, expected, atol=1e-6, rtol=0)


# The largest difference measured against the fixture is 1.1e-6 (float32 summation order).
PARITY_ATOL = 2e-6


def test_stateful_matches_all_30_sentences(fixture_bilm, fixture_dir, batches):
    embedder = Embedder(fixture_bilm, batch_size=3, stateful=True)
    for i, batch in enumerate(batches):
        outputs = embedder(batch)
        for k, layers in enumerate(outputs):
            numpy.testing.assert_allclose(
                layers[-1], expected_top(fixture_dir, k, i), atol=PARITY_ATOL, rtol=0,
                err_msg=f"batch {i}, sentence list {k}",
            )


def test_stateless_matches_first_batch(fixture_bilm, fixture_dir, batches):
    outputs = fixture_bilm.embed(batches[0], batch_size=3)
    for k, layers in enumerate(outputs):
        numpy.testing.assert_allclose(layers[-1], expected_top(fixture_dir, k, 0), atol=PARITY_ATOL, rtol=0)


def test_stateless_differs_from_carried_state_later(fixture_bilm, fixture_dir, batches):
    # Proves the fixture really needs the carried state, so the stateful test means something.
    outputs = fixture_bilm.embed(batches[5], batch_size=3)
    gap = max(abs(o[-1] - expected_top(fixture_dir, k, 5)).max() for k, o in enumerate(outputs))
    assert gap > 1e-2


def test_layer_zero_is_the_token_encoder_twice(fixture_bilm, batches):
    sentence = batches[0][0]
    layers = fixture_bilm.embed([sentence])[0]
    with torch.no_grad():
        tokens = fixture_bilm.token_encoder(torch.from_numpy(vocabulary_char_ids(sentence))).numpy()
    numpy.testing.assert_allclose(layers[0], numpy.concatenate([tokens, tokens], -1), atol=1e-6)
    assert layers.shape == (3, len(sentence), 32) and layers.dtype == numpy.float32
