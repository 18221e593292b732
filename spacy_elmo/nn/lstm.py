"""LSTM layers with projection and clipping, both directions of a layer computed together."""
from typing import List, Optional, Sequence, Tuple

import torch
from torch import nn

# (h, c): h (2, B, P), c (2, B, C); index 0 is the forward direction, 1 the backward one.
State = Tuple[torch.Tensor, torch.Tensor]


class BiLstmLayer(nn.Module):
    """One LSTM layer per direction, with projection (TF ``LSTMCell(num_proj=P)``).

    For each direction d and step t (gates in our order i, f, o, g):

        z = x_t W_in[d] + h_{t-1} W_h[d] + b[d] + forget_offset
        c_t = clip(sigmoid(z_f) * c_{t-1} + sigmoid(z_i) * tanh(z_g), cell_clip)
        h_t = clip((sigmoid(z_o) * tanh(c_t)) W_proj[d], proj_clip)

    The backward direction runs on sequences already reversed within their length, so
    both directions advance together with batched matmuls. ``forget_offset`` is TF's
    ``forget_bias=1.0``, added at run time and never stored, so the bias round-trips
    the original weights file bit for bit.
    """

    def __init__(
        self, input_dim: int, cell_dim: int, proj_dim: int,
        cell_clip: float = 0.0, proj_clip: float = 0.0, forget_bias: float = 1.0,
    ) -> None:
        super().__init__()
        self.cell_dim, self.proj_dim = cell_dim, proj_dim
        self.cell_clip, self.proj_clip = float(cell_clip or 0.0), float(proj_clip or 0.0)
        self.w_input = nn.Parameter(torch.empty(2, input_dim, 4 * cell_dim))
        self.w_hidden = nn.Parameter(torch.empty(2, proj_dim, 4 * cell_dim))
        self.bias = nn.Parameter(torch.zeros(2, 4 * cell_dim))
        self.w_proj = nn.Parameter(torch.empty(2, cell_dim, proj_dim))
        offset = torch.zeros(4 * cell_dim)
        offset[cell_dim : 2 * cell_dim] = forget_bias
        self.register_buffer("forget_offset", offset, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for weight in (self.w_input, self.w_hidden, self.w_proj):
            bound = 1.0 / weight.shape[1] ** 0.5
            nn.init.uniform_(weight, -bound, bound)
        nn.init.zeros_(self.bias)

    def forward(
        self, x: torch.Tensor, batch_sizes: Sequence[int], state: State
    ) -> Tuple[torch.Tensor, State]:
        """Run both directions over time-major input.

        x: (2, T, B, D), rows sorted by length, longest first, each direction in its own
        time order. batch_sizes[t]: rows still active at step t (non-increasing).
        state: initial (h, c). Returns outputs (2, T, B, P), exactly 0 past each row's
        end, and the final state of each row (taken at its last real step).
        """
        n_dir, steps, batch, _ = x.shape
        C = self.cell_dim
        # Input-to-gate products for all positions at once: (2, T*B, 4C)
        bias = (self.bias + self.forget_offset).unsqueeze(1)
        gates_x = torch.baddbmm(bias, x.reshape(n_dir, steps * batch, -1), self.w_input)
        gates_x = gates_x.view(n_dir, steps, batch, 4 * C)
        h, c = state
        outputs: List[torch.Tensor] = []
        for t in range(steps):
            n = batch_sizes[t]
            # z: (2, n, 4C)
            z = torch.baddbmm(gates_x[:, t, :n], h[:, :n], self.w_hidden)
            sig = torch.sigmoid(z[..., : 3 * C])
            c_new = sig[..., C : 2 * C] * c[:, :n] + sig[..., :C] * torch.tanh(z[..., 3 * C :])
            if self.cell_clip:
                c_new = c_new.clamp(-self.cell_clip, self.cell_clip)
            # h_new: (2, n, P)
            h_new = torch.bmm(sig[..., 2 * C : 3 * C] * torch.tanh(c_new), self.w_proj)
            if self.proj_clip:
                h_new = h_new.clamp(-self.proj_clip, self.proj_clip)
            if n < batch:
                outputs.append(nn.functional.pad(h_new, (0, 0, 0, batch - n)))
                h = torch.cat([h_new, h[:, n:]], dim=1)
                c = torch.cat([c_new, c[:, n:]], dim=1)
            else:
                outputs.append(h_new)
                h, c = h_new, c_new
        if not outputs:
            return x.new_zeros(n_dir, steps, batch, self.proj_dim), (h, c)
        return torch.stack(outputs, dim=1), (h, c)


class BiLstmStack(nn.Module):
    """L stacked ``BiLstmLayer``; with skip connections layer l > 0 adds its input."""

    def __init__(
        self, input_dim: int, cell_dim: int, proj_dim: int, n_layers: int,
        cell_clip: float = 0.0, proj_clip: float = 0.0, use_skip_connections: bool = False,
    ) -> None:
        super().__init__()
        dims = [input_dim] + [proj_dim] * (n_layers - 1)
        self.layers = nn.ModuleList(
            BiLstmLayer(d, cell_dim, proj_dim, cell_clip, proj_clip) for d in dims
        )
        self.use_skip_connections = use_skip_connections

    def forward(
        self, x: torch.Tensor, batch_sizes: Sequence[int], states: Sequence[State],
        dropout: float = 0.0,
    ) -> Tuple[List[torch.Tensor], List[State]]:
        """x: (2, T, B, D). Returns each layer's (2, T, B, P) output and final state."""
        outputs: List[torch.Tensor] = []
        finals: List[State] = []
        for index, (layer, state) in enumerate(zip(self.layers, states)):
            layer_in = nn.functional.dropout(x, dropout, self.training) if dropout else x
            out, final = layer(layer_in, batch_sizes, state)
            if self.use_skip_connections and index > 0:
                out = out + x
            outputs.append(out)
            finals.append(final)
            x = out
        return outputs, finals


def zero_states(
    n_layers: int, batch: int, cell_dim: int, proj_dim: int, like: Optional[torch.Tensor] = None
) -> List[State]:
    kwargs = {"dtype": like.dtype, "device": like.device} if like is not None else {}
    return [
        (torch.zeros(2, batch, proj_dim, **kwargs), torch.zeros(2, batch, cell_dim, **kwargs))
        for _ in range(n_layers)
    ]
