"""The ELMo bidirectional language model: token encoder + forward/backward LSTM stacks."""
from typing import List, Optional, Sequence, Tuple

import torch
from torch import nn

from ..errors import Errors
from .embedder import Embedder
from .lstm import BiLstmStack, State
from .derived import DerivedValues, StoreSlot
from .options import ElmoOptions
from . import precision
from .token_encoder import CharCNNEncoder
from .token_table import gather_rows


class BiLM(nn.Module):
    """ELMo biLM built from dimensions only (weights load separately).

    For a sentence wrapped in <S> ... </S> with token vectors E(i), returns L+1 layers:
    h(i, 0) = [E(i); E(i)] and h(i, j) = [fwd_j(i); bwd_j(i)] for LSTM layer j.

    Stateless: every call starts from ``initial_h``/``initial_c`` (zeros unless a warm-up
    stored another state), so a sentence's vectors never depend on the rest of the batch.
    ``forward`` also takes an explicit ``initial_state`` and returns the final one, which
    callers thread through to reproduce the original stateful behaviour.

    Inference reuses values derived from the weights (packed copies, token vectors, ...):
    ``inference_values`` gives the store a call may use, across calls only while the
    biLM is frozen (``requires_grad_(False)``) and its tensors unwritten (``derived``).
    """

    def __init__(self, options: ElmoOptions) -> None:
        super().__init__()
        self.options = options
        # True once weights were loaded (load_state_dict, the weight-file readers): the
        # spaCy layer refuses to run a biLM whose weights are still random unless allowed.
        self.weights_loaded = False
        self.token_encoder = CharCNNEncoder(options)
        self.lstm = BiLstmStack(
            options.projection_dim, options.lstm_dim, options.projection_dim,
            options.n_layers, options.cell_clip, options.proj_clip,
            options.use_skip_connections, options.forget_bias,
        )
        self._derived = StoreSlot()
        L, C, P = options.n_layers, options.lstm_dim, options.projection_dim
        self.register_buffer("initial_h", torch.zeros(L, 2, P))
        self.register_buffer("initial_c", torch.zeros(L, 2, C))
        self._compute_dtype = "float32"
        self._deterministic = True

    @property
    def compute_dtype(self) -> str:
        """The number format of the LSTMs' matmuls at inference (no autograd): "float32"
        (default), "bfloat16", "int8" or "auto"; see ``spacy_elmo.nn.precision``."""
        return self._compute_dtype

    def set_compute_dtype(self, compute_dtype: str) -> "BiLM":
        """Run inference in ``compute_dtype`` from now on (weights stay float32; their
        reduced copies are made on first use, in place of the float32 packed ones)."""
        precision.check_compute_dtype(compute_dtype)
        self._compute_dtype = compute_dtype
        for layer in self.lstm.layers:
            layer.compute_dtype = compute_dtype
        return self

    @property
    def deterministic(self) -> bool:
        """True (default): on CPU in float32 a sentence's vectors are the same bits alone,
        in any batch and on any thread count (every product on oneDNN's packed weights).
        False: products over a single row (a lone sentence, a batch's last steps) run
        MKL's faster matrix-vector product, so a sentence's vectors depend on its batch
        within float32 rounding (< 1e-6; the GPU's and reduced formats' bound)."""
        return self._deterministic

    def set_deterministic(self, deterministic: bool) -> "BiLM":
        self._deterministic = bool(deterministic)
        for layer in self.lstm.layers:
            layer.deterministic = self._deterministic
        return self

    @property
    def output_dim(self) -> int:
        return self.options.output_dim

    @property
    def n_output_layers(self) -> int:
        return self.options.n_output_layers

    def inference_values(self) -> DerivedValues:
        """The store of derived values for one inference call (see ``derived``): kept
        across calls while this biLM is frozen and its tensors unchanged, else new."""
        # what else shapes the derived values: the formats, and the single-row path of
        # the shared first step
        settings = tuple(layer.compute_dtype for layer in self.lstm.layers) + (self._deterministic,)
        return self._derived.for_call(self, settings)

    def default_state(self, batch: int) -> List[State]:
        """The stored initial state, repeated for ``batch`` rows: L x (h, c)."""
        return [
            (h.unsqueeze(1).expand(2, batch, -1).contiguous(),
             c.unsqueeze(1).expand(2, batch, -1).contiguous())
            for h, c in zip(self.initial_h, self.initial_c)
        ]

    def forward(
        self, char_ids: torch.Tensor, initial_state: Optional[List[State]] = None,
        dropout: float = 0.0, derived: Optional[DerivedValues] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor, List[State]]:
        """char_ids: (B, T, K) token ids (``token_encoder.token_ids``) with boundaries,
        rows left-aligned, padding all 0.

        Returns layers (L+1, B, T, 2P) (exactly 0 at padding), mask (B, T) and the final
        state of every row (in input order). ``derived``: the store of derived values
        the no-grad paths use (``inference_values()``); None: a fresh one.
        """
        mask = (char_ids > 0).any(dim=-1)
        tokens = self.token_encoder(char_ids, derived) * mask.unsqueeze(-1).to(torch.float32)
        return self.contextualize(tokens, mask.sum(dim=1), initial_state, dropout, derived)

    def contextualize(
        self, tokens: torch.Tensor, lengths: torch.Tensor,
        initial_state: Optional[List[State]] = None, dropout: float = 0.0,
        derived: Optional[DerivedValues] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor, List[State]]:
        """Run the LSTMs over token vectors (B, T, P) zeroed past ``lengths`` (B,)."""
        batch, steps, _ = tokens.shape
        lengths = lengths.to("cpu", torch.int64)
        order = torch.argsort(lengths, descending=True, stable=True)
        restore = torch.argsort(order)
        sorted_len = lengths[order]
        batch_sizes = [int((sorted_len > t).sum()) for t in range(steps)]
        states = initial_state if initial_state is not None else self.default_state(batch)
        states = [(h[:, order.to(h.device)], c[:, order.to(c.device)]) for h, c in states]
        x = tokens[order.to(tokens.device)]
        # reverse[b, t]: position read at step t of the backward direction (an involution)
        reverse = _reverse_index(sorted_len, steps).to(tokens.device)
        x_rev = x.gather(1, reverse.unsqueeze(-1).expand_as(x))
        # (2, T, B, P): forward and backward inputs, each in its own time order
        x_dirs = torch.stack([x, x_rev]).transpose(1, 2).contiguous()
        outputs, finals = self.lstm(x_dirs, batch_sizes, states, dropout, derived)
        mask = (torch.arange(steps).unsqueeze(0) < sorted_len.unsqueeze(1)).to(tokens.device)
        layers = [torch.cat([x, x], dim=-1)]
        for out in outputs:
            fwd, bwd = out.transpose(1, 2)  # each (B, T, P)
            bwd = bwd.gather(1, reverse.unsqueeze(-1).expand_as(bwd))
            layers.append(torch.cat([fwd, bwd], dim=-1) * mask.unsqueeze(-1))
        restore_dev = restore.to(tokens.device)
        stacked = torch.stack(layers)[:, restore_dev]
        finals = [(h[:, restore_dev], c[:, restore_dev]) for h, c in finals]
        return stacked, mask[restore_dev], finals

    def contextualize_rows(
        self, vectors: torch.Tensor, ids: torch.Tensor, lengths: torch.Tensor,
        initial_state: Optional[List[State]] = None, dropout: float = 0.0,
        derived: Optional[DerivedValues] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor, List[State]]:
        """``contextualize`` a batch given as distinct token vectors (V, P) and (B, T)
        ids into them, counted from 1: id 0 is padding (a zero vector). Every caller
        (prediction, the spaCy layer, pretraining) runs the char CNN once per distinct
        token and builds its batch here."""
        tokens = gather_rows(vectors, ids)  # (B, T, P), zero at padding
        return self.contextualize(tokens, lengths, initial_state, dropout, derived)

    def set_initial_state(self, state: Sequence[State]) -> None:
        """Store one state (each h (2, P), c (2, C) per layer) as the start of every call."""
        h = torch.stack([s[0] for s in state]).to(self.initial_h)
        c = torch.stack([s[1] for s in state]).to(self.initial_c)
        if h.shape != self.initial_h.shape or c.shape != self.initial_c.shape:
            raise ValueError(Errors.E014.format(
                found=(tuple(h.shape), tuple(c.shape)),
                expected=(tuple(self.initial_h.shape), tuple(self.initial_c.shape)),
            ))
        with torch.no_grad():
            self.initial_h.copy_(h)
            self.initial_c.copy_(c)

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self.weights_loaded = True  # load_state_dict, on the biLM or a model holding it

    def embed(self, sentences: Sequence[Sequence[str]], batch_size: int = 64, **kwargs):
        """Embed token lists: a list of float32 arrays (L+1, n_tokens, 2P), one per sentence.

        Eval mode, no gradients; sentences are batched sorted by length. See
        ``spacy_elmo.nn.embedder.Embedder`` for the options (``stateful``, caching);
        an ``Embedder`` kept across calls also keeps its token vectors.
        """
        return Embedder(self, batch_size=batch_size, **kwargs)(sentences)


def _reverse_index(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """(B, T) index: t -> len-1-t inside each row's length, identity past it."""
    t = torch.arange(steps).unsqueeze(0)
    ln = lengths.unsqueeze(1)
    return torch.where(t < ln, ln - 1 - t, t)
