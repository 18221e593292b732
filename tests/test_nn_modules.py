"""Modules against values worked out by hand and against torch's own LSTM."""
import math

import numpy
import pytest
import torch

from spacy_elmo import BiLM, ScalarMix
from spacy_elmo.nn.highway import Highway
from spacy_elmo.nn.lstm import BiLstmLayer


def test_highway_by_hand():
    layer = Highway(2, 1)
    with torch.no_grad():
        layer.carry[0].weight.copy_(torch.eye(2))
        layer.carry[0].bias.zero_()
        layer.transform[0].weight.copy_(torch.tensor([[2.0, 0.0], [0.0, -1.0]]))
        layer.transform[0].bias.copy_(torch.tensor([0.0, 0.5]))
    x = torch.tensor([[1.0, 2.0]], requires_grad=True)
    y = layer(x)
    g = [1 / (1 + math.exp(-1)), 1 / (1 + math.exp(-2))]
    t = [2.0, 0.0]  # relu(2*1), relu(-2 + 0.5)
    expected = [g[0] * t[0] + (1 - g[0]) * 1.0, g[1] * t[1] + (1 - g[1]) * 2.0]
    assert y.detach().numpy() == pytest.approx(numpy.array([expected]), abs=1e-6)
    y.sum().backward()
    # d y0 / d x0 = g'(1)*(t0 - x0) + g0*2 + (1 - g0), with g' = g(1-g)
    d0 = g[0] * (1 - g[0]) * (t[0] - 1.0) + g[0] * 2.0 + (1 - g[0])
    assert x.grad[0, 0].item() == pytest.approx(d0, abs=1e-6)


def _torch_lstm_like(layer: BiLstmLayer) -> torch.nn.LSTM:
    """A torch.nn.LSTM (bidirectional, with projection) holding ``layer``'s weights."""
    d_in, C, P = layer.w_input.shape[1], layer.cell_dim, layer.proj_dim
    ref = torch.nn.LSTM(d_in, C, proj_size=P, batch_first=True, bidirectional=True)

    def torch_order(w):  # ours (i, f, o, g) -> torch (i, f, g, o)
        i, f, o, g = w.split(C, dim=-1)
        return torch.cat([i, f, g, o], dim=-1)

    with torch.no_grad():
        for d, suffix in ((0, ""), (1, "_reverse")):
            getattr(ref, f"weight_ih_l0{suffix}").copy_(torch_order(layer.w_input[d]).T)
            getattr(ref, f"weight_hh_l0{suffix}").copy_(torch_order(layer.w_hidden[d]).T)
            bias = torch_order(layer.bias[d] + layer.forget_offset)
            getattr(ref, f"bias_ih_l0{suffix}").copy_(bias)
            getattr(ref, f"bias_hh_l0{suffix}").zero_()
            getattr(ref, f"weight_hr_l0{suffix}").copy_(layer.w_proj[d].T)
    return ref


def test_unclipped_layer_equals_torch_bidirectional_lstm(tiny_options):
    torch.manual_seed(1)
    options = tiny_options.replace(n_layers=1, cell_clip=0.0, proj_clip=0.0)
    bilm = BiLM(options).eval()
    layer = bilm.lstm.layers[0]
    ref = _torch_lstm_like(layer)
    lengths = torch.tensor([5, 7, 2])
    tokens = torch.randn(3, 7, options.projection_dim)
    tokens = tokens * (torch.arange(7)[None] < lengths[:, None]).unsqueeze(-1)
    with torch.no_grad():
        layers, _, _ = bilm.contextualize(tokens, lengths)
        packed = torch.nn.utils.rnn.pack_padded_sequence(tokens, lengths, True, False)
        expected, _ = torch.nn.utils.rnn.pad_packed_sequence(ref(packed)[0], True, total_length=7)
    numpy.testing.assert_allclose(layers[1].numpy(), expected.numpy(), atol=1e-6)


def _numpy_step(x, h, c, w_in, w_h, b, w_p, C, cell_clip, proj_clip):
    """One TF LSTMCell step with projection and clipping, gates in TF order (i, j, f, o)."""
    sig = lambda v: 1 / (1 + numpy.exp(-v))  # noqa: E731
    z = x @ w_in + h @ w_h + b
    i, j, f, o = (z[k * C : (k + 1) * C] for k in range(4))
    c = numpy.clip(sig(f + 1.0) * c + sig(i) * numpy.tanh(j), -cell_clip, cell_clip)
    h = numpy.clip((sig(o) * numpy.tanh(c)) @ w_p, -proj_clip, proj_clip)
    return h, c


def test_clipped_layer_matches_a_plain_tf_cell(tiny_options):
    torch.manual_seed(2)
    layer = BiLstmLayer(3, 4, 2, cell_clip=0.5, proj_clip=0.3)
    with torch.no_grad():
        for p in (layer.w_input, layer.w_hidden, layer.w_proj, layer.bias):
            p.uniform_(-2, 2)
    x = torch.randn(2, 6, 1, 3)  # each direction its own 6-step sequence
    state = (torch.zeros(2, 1, 2), torch.zeros(2, 1, 4))
    with torch.no_grad():
        out, (h_fin, c_fin) = layer(x, [1] * 6, state)
    C = 4
    for d in range(2):
        # our gates (i, f, o, g) -> TF's (i, j, f, o) for the reference
        perm = numpy.concatenate([numpy.arange(0, C), numpy.arange(3 * C, 4 * C),
                                  numpy.arange(C, 2 * C), numpy.arange(2 * C, 3 * C)])
        w_in, w_h = layer.w_input[d].detach().numpy()[:, perm], layer.w_hidden[d].detach().numpy()[:, perm]
        b, w_p = layer.bias[d].detach().numpy()[perm], layer.w_proj[d].detach().numpy()
        h, c = numpy.zeros(2), numpy.zeros(4)
        clipped = 0
        for t in range(6):
            h, c = _numpy_step(x[d, t, 0].numpy(), h, c, w_in, w_h, b, w_p, C, 0.5, 0.3)
            clipped += int(numpy.isclose(abs(h), 0.3).sum() + numpy.isclose(abs(c), 0.5).sum())
            numpy.testing.assert_allclose(out[d, t, 0].numpy(), h, atol=1e-6)
        assert clipped > 0, "weights too small to exercise the clips"
        numpy.testing.assert_allclose(c_fin[d, 0].numpy(), c, atol=1e-6)


def test_lstm_gradients_match_torch_lstm(tiny_options):
    torch.manual_seed(3)
    bilm = BiLM(tiny_options.replace(n_layers=1, cell_clip=0.0, proj_clip=0.0))
    ref = _torch_lstm_like(bilm.lstm.layers[0])
    tokens = torch.randn(2, 5, tiny_options.projection_dim, requires_grad=True)
    layers, _, _ = bilm.contextualize(tokens, torch.tensor([5, 5]))
    layers[1].pow(2).sum().backward()
    ours = tokens.grad.clone()
    tokens.grad = None
    ref(tokens)[0].pow(2).sum().backward()
    numpy.testing.assert_allclose(ours.numpy(), tokens.grad.numpy(), atol=1e-5)


def test_scalar_mix_by_hand():
    mix = ScalarMix(2, weights=[0.0, math.log(3.0)], gamma=2.0)
    layers = torch.tensor([[[1.0, 2.0]], [[3.0, -1.0]]])  # (2 layers, 1 position, 2 dims)
    out = mix(layers)
    # softmax -> [0.25, 0.75]; 2 * (0.25 * [1, 2] + 0.75 * [3, -1]) = [5, -0.5]
    assert out.detach().numpy()[0].tolist() == pytest.approx([5.0, -0.5])
    out.sum().backward()
    assert mix.gamma.grad.item() == pytest.approx(2.25)  # sum of the unscaled mix: 2.5 - 0.25
    # d/ds_1 = gamma * w0 * w1 * (sum(h1) - sum(h0)) = 2 * 0.1875 * (2 - 3)
    assert mix.scalars.grad[1].item() == pytest.approx(-0.375)


def test_scalar_mix_default_is_plain_average():
    layers = torch.randn(3, 4, 5)
    numpy.testing.assert_allclose(ScalarMix(3)(layers).detach().numpy(),
                                  layers.mean(0).numpy(), atol=1e-6)


def test_scalar_mix_layer_norm_uses_only_real_positions():
    layers = torch.randn(2, 3, 4, 6) * 5 + 2
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]], dtype=torch.bool)
    layers = layers * mask.unsqueeze(-1)
    mix = ScalarMix(2, weights=[0.0, -1e9], layer_norm=True, trainable=False)  # layer 0 alone
    out = mix(layers, mask)
    real = out[mask]
    assert real.mean().item() == pytest.approx(0.0, abs=1e-5)
    assert real.var(unbiased=False).item() == pytest.approx(1.0, abs=1e-4)
    assert (out[~mask] == 0).all()
    assert not any(p.requires_grad for p in mix.parameters())


def test_scalar_mix_rejects_wrong_weight_count():
    with pytest.raises(ValueError, match="expected 3 layer weights, found 2"):
        ScalarMix(3, weights=[0.0, 1.0])
