"""The fast inference paths (packed weights, values derived from the weights) against the
plain autograd path, and the rule that keeps derived values true (``nn/derived.py``):
nothing outlives a call on a trainable biLM; a frozen one keeps its store only while its
tensors are unchanged. Issue 21 item 1: after any write of the weights, outputs equal
those of a fresh biLM loaded with the same state dict."""
import copy
import pickle

import numpy
import pytest
import torch

from spacy_elmo import BiLM, ElmoOptions, Embedder, TokenCache
from spacy_elmo.nn import derived, packed
from spacy_elmo.nn.derived import DerivedValues, in_place_version
from spacy_elmo.nn.lstm import BiLstmLayer
from spacy_elmo.nn.warmup import reset_initial_state, warm_up

from .conftest import random_bilm

# rows of lengths 4, 3, 1: 3 rows at step 0, 2 at steps 1-2, a single row at step 3
BATCH_SIZES = [3, 2, 2, 1]
SENTENCES = [["The", "cat", "sat", "down"], ["A", "dog"], ["Hi"]]


def _random_layer(cell_dim: int) -> BiLstmLayer:
    torch.manual_seed(0)
    layer = BiLstmLayer(6, cell_dim, 5, cell_clip=3.0, proj_clip=3.0)
    with torch.no_grad():
        for param in layer.parameters():
            param.uniform_(-0.3, 0.3)
    return layer


def _inputs() -> torch.Tensor:
    """x (2, T, B, 6), zero past each row's end."""
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(2, len(BATCH_SIZES), BATCH_SIZES[0], 6, generator=generator)
    for t, n in enumerate(BATCH_SIZES):
        x[:, t, n:] = 0.0
    return x


@pytest.mark.parametrize("cell_dim", [16, 2048])
def test_no_grad_path_equals_the_autograd_path(cell_dim):
    """The in-place, packed path (no autograd) against the plain one (autograd), over
    steps with 3, 2 and 1 rows (single rows also through the packed weights)."""
    layer = _random_layer(cell_dim)
    x = _inputs()
    generator = torch.Generator().manual_seed(2)
    state = (torch.randn(2, 3, 5, generator=generator) * 0.1,
             torch.randn(2, 3, cell_dim, generator=generator) * 0.1)
    expected, expected_final = layer(x, BATCH_SIZES, state)  # parameters need grad: autograd path
    store = DerivedValues()
    with torch.no_grad():
        found, found_final = layer(x, BATCH_SIZES, state, store)
    torch.testing.assert_close(found, expected.detach(), atol=2e-6, rtol=1e-5)
    for a, b in zip(found_final, expected_final):
        torch.testing.assert_close(a, b.detach(), atol=2e-6, rtol=1e-5)
    if packed.ENABLED and packed.AVAILABLE:  # one packed copy per weight, none for single rows
        assert store.packed(layer, "w_hidden0", [], lambda: 1 / 0) is not None
        with pytest.raises(ZeroDivisionError):  # not made before: made now, from 1 / 0
            store.packed(layer, "w_proj0_row", [], lambda: 1 / 0, rows=1)


@pytest.fixture
def small_options() -> ElmoOptions:
    return ElmoOptions(lstm_dim=16, projection_dim=4, n_layers=2, cell_clip=3.0, proj_clip=3.0,
                       use_skip_connections=True, char_dim=4, filters=((1, 4), (2, 8)), n_highway=1)


def _embed(model) -> list:
    return [layers.copy() for layers in model.embed(SENTENCES, batch_size=3)]


def _assert_like_fresh_copy(bilm: BiLM, found=None, atol: float = 1e-6) -> None:
    """``found`` (default: ``bilm.embed``) equals a new BiLM loaded with its state dict."""
    fresh = BiLM(bilm.options)
    fresh.load_state_dict(bilm.state_dict())
    for got, want in zip(found if found is not None else _embed(bilm), _embed(fresh)):
        numpy.testing.assert_allclose(got, want, atol=atol, rtol=0)


def _sgd_step(bilm: BiLM) -> None:
    optimizer = torch.optim.SGD(bilm.parameters(), lr=0.5)
    layers, _, _ = bilm(bilm.token_encoder.token_ids(["a", "b"]).unsqueeze(0))
    layers.square().sum().backward()
    optimizer.step()


def test_an_sgd_step_is_seen_by_the_next_embed(small_options):
    """The issue's reproduction: embed, one plain torch SGD step, embed again."""
    bilm = random_bilm(small_options, seed=0)
    before = _embed(bilm)
    kept = Embedder(bilm, batch_size=3, cache=TokenCache())
    kept(SENTENCES)  # an embedder (and token cache) made before the step, reused after it
    _sgd_step(bilm)
    after = _embed(bilm)
    assert max(numpy.abs(a - b).max() for a, b in zip(after, before)) > 1e-2  # it did change
    _assert_like_fresh_copy(bilm)
    _assert_like_fresh_copy(bilm, Embedder(bilm, batch_size=3)(SENTENCES))
    _assert_like_fresh_copy(bilm, kept(SENTENCES))


@pytest.mark.parametrize("frozen", [False, True])
def test_load_state_dict_is_seen(small_options, frozen):
    bilm, other = random_bilm(small_options, seed=0), random_bilm(small_options, seed=1)
    bilm.requires_grad_(not frozen)
    _embed(bilm)  # fills the packed copies and the shared first step
    bilm.load_state_dict(other.state_dict())
    for found, expected in zip(_embed(bilm), _embed(other)):
        numpy.testing.assert_allclose(found, expected, atol=1e-6, rtol=0)


def test_writes_through_data_are_seen_by_a_trainable_biLM(small_options):
    """``param.data.copy_`` and numpy views bypass torch's version counter: a trainable
    biLM keeps nothing across calls, so they are seen all the same."""
    bilm = random_bilm(small_options, seed=0)
    _embed(bilm)
    bilm.lstm.layers[1].w_proj.data.copy_(bilm.lstm.layers[1].w_proj.data * 0.5)
    bilm.token_encoder.highway.carry[0].weight.detach().numpy()[:] += 0.1
    bilm.token_encoder.convs[0].weight.data.mul_(2.0)
    _assert_like_fresh_copy(bilm)


def _edits(bilm: BiLM):
    """In-place edits of a frozen biLM, each through torch (seen by its version counters)."""
    layer = bilm.lstm.layers[0]
    with torch.no_grad():
        yield "copy_", lambda: layer.w_hidden.copy_(layer.w_hidden * 0.5)
        yield "add_", lambda: bilm.token_encoder.highway.transform[0].bias.add_(0.3)
        yield "conv", lambda: bilm.token_encoder.convs[1].weight.mul_(1.5)
        yield "projection", lambda: bilm.token_encoder.projection.weight.neg_()
    yield "initial state", lambda: warm_up(bilm, SENTENCES)
    yield "zero state", lambda: reset_initial_state(bilm)
    yield "new parameter", lambda: setattr(layer, "bias", torch.nn.Parameter(
        torch.full_like(layer.bias, 0.2), requires_grad=False))
    yield "dtype round trip", lambda: bilm.double().float()


def test_a_frozen_biLM_sees_every_torch_write(small_options):
    bilm = random_bilm(small_options, seed=0).requires_grad_(False)
    kept = Embedder(bilm, batch_size=3, cache=TokenCache())
    for name, edit in _edits(bilm):
        kept(SENTENCES)  # fills the store and the token cache
        edit()
        _assert_like_fresh_copy(bilm, kept(SENTENCES))
        _assert_like_fresh_copy(bilm)


def test_unfreezing_and_training_is_seen(small_options):
    bilm = random_bilm(small_options, seed=0).requires_grad_(False)
    _embed(bilm)
    bilm.requires_grad_(True)
    _sgd_step(bilm)
    bilm.requires_grad_(False)
    _assert_like_fresh_copy(bilm)


def test_a_frozen_unchanged_biLM_keeps_its_store_and_token_vectors(small_options):
    bilm = random_bilm(small_options, seed=0).requires_grad_(False)
    assert bilm.inference_values() is bilm.inference_values()
    cache = TokenCache()
    embedder = Embedder(bilm, batch_size=3, cache=cache)
    embedder(SENTENCES)
    misses = cache.misses
    embedder(SENTENCES)
    assert cache.misses == misses and cache.hits > 0  # the second call encoded nothing
    trainable = random_bilm(small_options, seed=0)
    assert trainable.inference_values() is not trainable.inference_values()


def test_copies_and_pickles_start_with_an_empty_store(small_options):
    bilm = random_bilm(small_options, seed=0).requires_grad_(False)
    store = bilm.inference_values()
    copied, unpickled = copy.deepcopy(bilm), pickle.loads(pickle.dumps(bilm))
    for other in (copied, unpickled):
        assert other.inference_values() is not store
        assert other.inference_values() is other.inference_values()
    with torch.no_grad():
        copied.lstm.layers[0].bias.add_(1.0)
    _assert_like_fresh_copy(copied)
    _assert_like_fresh_copy(bilm)
    assert bilm.inference_values() is store


def test_in_place_version_counts_writes_and_falls_back():
    tensor = torch.zeros(3)
    before = in_place_version(tensor)
    tensor.add_(1.0)
    tensor.detach().mul_(2.0)  # detach shares the counter
    assert in_place_version(tensor) == before + 2
    assert in_place_version(object()) is None  # no counter: unknown


def test_without_version_counters_nothing_is_kept(small_options, monkeypatch):
    monkeypatch.setattr(derived, "in_place_version", lambda tensor: None)
    bilm = random_bilm(small_options, seed=0).requires_grad_(False)
    assert bilm.inference_values() is not bilm.inference_values()
    _embed(bilm)
    with torch.no_grad():
        bilm.lstm.layers[0].w_input.mul_(2.0)
    _assert_like_fresh_copy(bilm)


def test_packing_falls_back_to_plain_matmuls(small_options, monkeypatch):
    """Where the private oneDNN ops are missing, the probe turns packing off and the
    outputs are the same (to float32 rounding)."""
    bilm = random_bilm(small_options, seed=0).requires_grad_(False)
    expected = _embed(bilm)

    def missing(*args, **kwargs):
        raise AttributeError("no such op")

    monkeypatch.setattr(packed, "pack", missing)
    assert not packed._probe()
    monkeypatch.setattr(packed, "AVAILABLE", False)
    assert DerivedValues().packed(bilm, "w", [torch.zeros(2, 2)], lambda: torch.zeros(2, 2)) is None
    for found, want in zip(_embed(copy.deepcopy(bilm)), expected):
        numpy.testing.assert_allclose(found, want, atol=1e-6, rtol=0)
