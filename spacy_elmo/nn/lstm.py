"""LSTM layers with projection and clipping, both directions of a layer computed together."""
from typing import List, Optional, Sequence, Tuple

import torch
from torch import nn

from . import packed, precision
from .derived import DerivedValues

# (h, c): h (2, B, P), c (2, B, C); index 0 is the forward direction, 1 the backward one.
State = Tuple[torch.Tensor, torch.Tensor]
# Rows per input-to-gate matmul without autograd (large enough to run at the full
# matmul rate, small enough that the scratch gates stay a few tens of MB).
GATE_CHUNK_ROWS = 256
# The same for int8, whose products are read back faster from a smaller scratch: 128
# rows run its steps 6% faster than 256 (original size, batch 32; float32: no change).
INT8_GATE_CHUNK_ROWS = 128


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
        # the number format of the matmuls without autograd (``precision.COMPUTE_DTYPES``);
        # set for the whole biLM by ``BiLM.set_compute_dtype``
        self.compute_dtype = "float32"
        # False: float32 products over a single row run MKL's matrix-vector product
        # (faster; the row's sums then differ from a batch's by float32 rounding, < 1e-6);
        # set for the whole biLM by ``BiLM.set_deterministic``
        self.deterministic = True
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for weight in (self.w_input, self.w_hidden, self.w_proj):
            bound = 1.0 / weight.shape[1] ** 0.5
            nn.init.uniform_(weight, -bound, bound)
        nn.init.zeros_(self.bias)

    def forward(
        self, x: torch.Tensor, batch_sizes: Sequence[int], state: State,
        derived: Optional[DerivedValues] = None,
    ) -> Tuple[torch.Tensor, State]:
        """Run both directions over time-major input.

        x: (2, T, B, D), rows sorted by length, longest first, each direction in its own
        time order. batch_sizes[t]: rows still active at step t (non-increasing).
        state: initial (h, c). Returns outputs (2, T, B, P), exactly 0 past each row's
        end, and the final state of each row (taken at its last real step).
        derived: where the no-grad path keeps packed weights and the shared first step
        (see ``derived``); None: a store for this call only.
        """
        needs_grad = torch.is_grad_enabled() and (
            x.requires_grad or state[0].requires_grad or state[1].requires_grad
            or any(p.requires_grad for p in self.parameters())
        )
        if not needs_grad:
            return self._forward_no_grad(
                x, batch_sizes, state, derived if derived is not None else DerivedValues())
        n_dir, steps, batch, _ = x.shape
        C = self.cell_dim
        # Input-to-gate products for all positions at once: (2, T*B, 4C)
        gates_x = torch.baddbmm(self._gate_bias(), x.reshape(n_dir, steps * batch, -1), self.w_input)
        # One (2, B, 4C) view per step. unbind, not gates_x[:, t]: autograd then stacks the
        # steps' gradients once, instead of giving every step's slice a gradient the size
        # of all of gates_x (T full-size zero-filled tensors per backward).
        gates_steps = gates_x.view(n_dir, steps, batch, 4 * C).unbind(1)
        h, c = state
        outputs: List[torch.Tensor] = []
        for t in range(steps):
            n = batch_sizes[t]
            # z: (2, n, 4C)
            z = torch.baddbmm(gates_steps[t][:, :n], h[:, :n], self.w_hidden)
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

    def _gate_bias(self) -> torch.Tensor:
        """(2, 1, 4C): the stored bias plus TF's forget-gate offset."""
        return (self.bias + self.forget_offset).unsqueeze(1)

    def _forward_no_grad(
        self, x: torch.Tensor, batch_sizes: Sequence[int], state: State, derived: DerivedValues
    ) -> Tuple[torch.Tensor, State]:
        """``forward``'s steps without autograd: in place, on the active rows only.

        Rows are sorted longest first, so the rows still running at step t are the
        prefix ``[:n]``; finished rows keep their final (h, c) in the state buffers.
        Input-to-gate products are computed for the active rows only, a chunk of steps
        at a time (about ``GATE_CHUNK_ROWS`` rows per matmul: bounded scratch memory).
        """
        n_dir, steps, batch, _ = x.shape
        h, c = state[0].clone(), state[1].clone()
        out = x.new_zeros(n_dir, steps, batch, self.proj_dim)
        # the formats of products over several rows and over a single row
        fmts = precision.formats(self.compute_dtype, x.device, self.w_hidden[0].numel())
        packs = [self._packed_weights(d, derived) if fmts[0] == "float32" else None
                 for d in range(n_dir)]
        start = self._shared_first_step(x, h, c, out, batch_sizes, packs, fmts, derived)
        chunk_rows = INT8_GATE_CHUNK_ROWS if fmts[0] == "int8" else GATE_CHUNK_ROWS
        for steps_in_chunk in _gate_chunks(batch_sizes[start:], chunk_rows):
            t0 = start
            start += len(steps_in_chunk)
            # gates[d]: (rows, 4C), the active rows of steps t0.., one step after another
            gates = [
                self._input_gates(_active_rows(x[d], t0, steps_in_chunk), d, fmts[0],
                                  packs[d] and packs[d][0], derived)
                for d in range(n_dir)
            ]
            row = 0
            for t, n in enumerate(steps_in_chunk, start=t0):
                if n > 0:
                    rows = [g[row : row + n] for g in gates]
                    out[:, t, :n] = self._step(rows, h[:, :n], c[:, :n], packs, fmts, derived)
                row += n
        return out, (h, c)

    def _input_gates(
        self, x: torch.Tensor, d: int, fmt: str, w_packed, derived: DerivedValues
    ) -> torch.Tensor:
        """x (rows, D) @ w_input[d] + bias: (rows, 4C), in ``fmt``."""
        if fmt == "float32":
            return packed.linear(x, w_packed, self.w_input[d], self._gate_bias()[d, 0])
        weight = derived.reduced(self, f"w_input{d}", fmt, lambda: self._double_g(self.w_input[d].t()))
        return precision.linear(fmt, x, weight, self._double_g(self._gate_bias()[d, 0]))

    def _shared_first_step(self, x, h, c, out, batch_sizes, packs, fmts, derived: DerivedValues) -> int:
        """Step 0 when every row starts alike (<S>, resp. </S>, from the stored state).

        The usual case: computed for one row, kept in ``derived`` (while that input and
        state stay the same) and copied to all rows. Returns the steps done (0/1).
        """
        n = batch_sizes[0] if batch_sizes else 0
        start = (x[:, 0, :n], h[:, :n], c[:, :n])
        if n == 0 or not all(bool((v == v[:, :1]).all()) for v in start):
            return 0
        key = [v[:, 0].clone() for v in start]
        cached = derived.memo(self, "first_step")
        if not (cached and all(map(torch.equal, cached[0], key))):
            h1, c1 = h[:, :1].clone(), c[:, :1].clone()
            gates = [self._input_gates(key[0][d : d + 1], d, fmts[1],
                                       packs[d][0] if packs[d] and self.deterministic else None,
                                       derived) for d in range(x.shape[0])]
            self._step(gates, h1, c1, packs, fmts, derived)
            cached = (key, h1, c1)
            derived.remember(self, "first_step", cached)
        h[:, :n] = cached[1]
        c[:, :n] = cached[2]
        out[:, 0, :n] = cached[1]
        return 1

    def _step(self, gates: List[torch.Tensor], h, c, packs, fmts, derived: DerivedValues) -> torch.Tensor:
        """One step of both directions over n rows: gates[d] (n, 4C) input-to-gate
        products; h (2, n, P), c (2, n, C) updated in place. Returns h."""
        fmt = fmts[0] if h.shape[1] > 1 else fmts[1]
        if fmt != "float32":
            for d in range(len(gates)):
                w_hidden = derived.reduced(self, f"w_hidden{d}", fmt,
                                           lambda: self._double_g(self.w_hidden[d].t()))
                w_proj = derived.reduced(self, f"w_proj{d}", fmt, lambda: self.w_proj[d].t())
                z = precision.linear(fmt, h[d], w_hidden, add=gates[d])
                h[d] = self._clip_h(precision.linear(fmt, self._cell_2g(z, c[d]), w_proj))
            return h
        # packed weights for any number of rows: a row's result does not depend on the
        # others (see packed.linear); MKL's sums would, so a single row takes them only
        # when not ``deterministic``
        if packs[0] is not None and packs[0][1] is not None and (self.deterministic or h.shape[1] > 1):
            for d in range(len(gates)):
                self._step_one_direction(gates[d], h[d], c[d], packs[d][1], packs[d][2], d)
            return h
        return self._step_both_directions(torch.stack(gates), h, c, derived)

    def _cell(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """From the gate sums z (..., 4C), float32: c (..., C) updated (and clipped) in
        place; returns the projection's input sigmoid(z_o) * tanh(c)."""
        C = self.cell_dim
        sig = z[..., : 3 * C].sigmoid_()
        c.mul_(sig[..., C : 2 * C]).addcmul_(sig[..., :C], z[..., 3 * C :].tanh_())
        if self.cell_clip:
            c.clamp_(-self.cell_clip, self.cell_clip)
        return torch.tanh(c).mul_(sig[..., 2 * C : 3 * C])

    def _double_g(self, out_in: torch.Tensor) -> torch.Tensor:
        """(4C, ...) gate weights (or a (4C,) bias) with the rows of z_g doubled, for
        ``_cell_2g``: exact in every format (a power of two; int8 keeps its values and
        doubles the row's scale)."""
        doubled = out_in.detach().clone()
        doubled[3 * self.cell_dim :] *= 2.0
        return doubled

    def _cell_2g(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """``_cell`` for the reduced formats, whose weights give 2 z_g (``_double_g``):
        every tanh as 2 sigmoid(2x) - 1, which torch computes about twice as fast (its
        float32 tanh costs 3x a sigmoid; the result differs by float32 rounding, ~1e-7).
        z (n, 4C) is overwritten; c (n, C) updated in place."""
        C = self.cell_dim
        sig = z.sigmoid_()
        tanh_g = sig[:, 3 * C :].mul_(2.0).sub_(1.0)
        c.mul_(sig[:, C : 2 * C]).addcmul_(sig[:, :C], tanh_g)
        if self.cell_clip:
            c.clamp_(-self.cell_clip, self.cell_clip)
        return torch.mul(c, 2.0).sigmoid_().mul_(2.0).sub_(1.0).mul_(sig[:, 2 * C : 3 * C])

    def _clip_h(self, h: torch.Tensor) -> torch.Tensor:
        return h.clamp_(-self.proj_clip, self.proj_clip) if self.proj_clip else h

    def _packed_weights(self, d: int, derived: DerivedValues) -> Tuple[Optional[torch.Tensor], ...]:
        """Direction d's (w_input, w_hidden, w_proj), each packed or None."""
        return tuple(
            derived.packed(self, f"{name}{d}", [weight], lambda w=weight: w[d].t())
            for name, weight in (("w_input", self.w_input), ("w_hidden", self.w_hidden),
                                 ("w_proj", self.w_proj))
        )

    def _step_one_direction(self, gates_x, h, c, w_hidden, w_proj, d: int) -> None:
        """One step of direction d over n > 1 rows with packed weights: gates_x (n, 4C);
        h (n, P), c (n, C) updated in place."""
        # z: (n, 4C)
        z = packed.linear(h, w_hidden, self.w_hidden[d], add=gates_x)
        # h_new: (n, P)
        h.copy_(self._clip_h(packed.linear(self._cell(z, c), w_proj, self.w_proj[d])))

    def _step_both_directions(
        self, z: torch.Tensor, h: torch.Tensor, c: torch.Tensor, derived: DerivedValues
    ) -> torch.Tensor:
        """One step of both directions with batched matmuls, where nothing is packed
        (another device, packing off or unavailable): z (2, n, 4C) holds the input gates."""
        z.baddbmm_(h, self.w_hidden)
        # h = cell output (2, n, C) @ w_proj (2, C, P); MKL reads w_proj's short rows (P
        # floats) slowly, a transposed copy faster
        w_proj_t = derived.value(self, "w_proj_t", lambda: self.w_proj.transpose(1, 2))
        torch.bmm(self._cell(z, c), w_proj_t.transpose(1, 2), out=h)
        self._clip_h(h)
        return h


def _gate_chunks(batch_sizes: Sequence[int], chunk_rows: int) -> List[Sequence[int]]:
    """Split the steps into runs of about ``chunk_rows`` active rows (at least one step)."""
    chunks, start, rows = [], 0, 0
    for t, n in enumerate(batch_sizes):
        rows += n
        if rows >= chunk_rows or t == len(batch_sizes) - 1:
            chunks.append(batch_sizes[start : t + 1])
            start, rows = t + 1, 0
    return chunks


def _active_rows(x: torch.Tensor, t0: int, sizes: Sequence[int]) -> torch.Tensor:
    """x (T, B, D): rows [:sizes[i]] of steps t0 + i, stacked: (sum(sizes), D)."""
    if all(n == x.shape[1] for n in sizes):
        return x[t0 : t0 + len(sizes)].reshape(-1, x.shape[2])
    return torch.cat([x[t0 + i, :n] for i, n in enumerate(sizes)])


class BiLstmStack(nn.Module):
    """L stacked ``BiLstmLayer``; with skip connections layer l > 0 adds its input.
    ``forget_bias``: TF's run-time forget-gate offset (1.0), 0.0 for models without it."""

    def __init__(
        self, input_dim: int, cell_dim: int, proj_dim: int, n_layers: int,
        cell_clip: float = 0.0, proj_clip: float = 0.0, use_skip_connections: bool = False,
        forget_bias: float = 1.0,
    ) -> None:
        super().__init__()
        dims = [input_dim] + [proj_dim] * (n_layers - 1)
        self.layers = nn.ModuleList(
            BiLstmLayer(d, cell_dim, proj_dim, cell_clip, proj_clip, forget_bias) for d in dims
        )
        self.use_skip_connections = use_skip_connections

    def forward(
        self, x: torch.Tensor, batch_sizes: Sequence[int], states: Sequence[State],
        dropout: float = 0.0, derived: Optional[DerivedValues] = None,
    ) -> Tuple[List[torch.Tensor], List[State]]:
        """x: (2, T, B, D). Returns each layer's (2, T, B, P) output and final state.
        ``derived``: see ``BiLstmLayer.forward``."""
        outputs: List[torch.Tensor] = []
        finals: List[State] = []
        for index, (layer, state) in enumerate(zip(self.layers, states)):
            layer_in = nn.functional.dropout(x, dropout, self.training) if dropout else x
            out, final = layer(layer_in, batch_sizes, state, derived)
            if self.use_skip_connections and index > 0:
                out = out + x
            outputs.append(out)
            finals.append(final)
            x = out
        return outputs, finals
