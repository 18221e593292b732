"""The language-model training head: a softmax over words shared by both directions.

The biLM exported for inference has no softmax; it lives here, with the loss. The loss
of a batch is the sum over the two directions of the mean negative log-likelihood of
the next (forward) or previous (backward) token.
"""
import math
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy
import torch
from torch import nn

from ..nn.bilm import BiLM
from ..nn.lstm import State
from ..nn.token_table import gather_rows
from .batch import IGNORE, SentenceBatch, WindowBatch

NEG_INF = -1e30  # logit of a removed accidental hit (finite, as TF's -FLT_MAX)
FULL_SOFTMAX_CELLS = 1 << 24  # logits computed at once by the full softmax


def _cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(logits, targets, reduction="none")


class SoftmaxHead(nn.Module):
    """log p(w | h) = log softmax(h W^T + b)[w], W (K, P), b (K,): K words, P = LSTM output."""

    def __init__(self, vocab_size: int, dim: int) -> None:
        super().__init__()
        # bilm-tf: W ~ N(0, 1/sqrt(P)), b = 0
        self.weight = nn.Parameter(torch.randn(vocab_size, dim) / math.sqrt(dim))
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def full_nll(self, h: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """h (N, P), targets (N,) -> (N,) exact negative log-likelihoods."""
        rows = max(1, FULL_SOFTMAX_CELLS // self.weight.shape[0])  # bound the (rows, K) logits
        out = []
        for start in range(0, h.shape[0], rows):
            logits = (h[start : start + rows] @ self.weight.T + self.bias).float()  # (rows, K)
            out.append(_cross_entropy(logits, targets[start : start + rows]))
        return torch.cat(out) if out else h.new_zeros(0, dtype=torch.float32)

    def sampled_nll(self, h: torch.Tensor, targets: torch.Tensor, sample: "Sample") -> torch.Tensor:
        """Sampled softmax (TF ``sampled_softmax_loss``): the true word against the
        sampled candidates, every logit corrected by -log(expected count), and a
        candidate equal to the true word removed ("accidental hit"). (N,) losses."""
        n_words = self.weight.shape[0]
        true_q = sample.expected_counts(targets.cpu().numpy(), n_words)
        true_q = torch.from_numpy(true_q).to(h.device)
        cand = torch.from_numpy(sample.ids).to(h.device)
        cand_q = torch.from_numpy(sample.expected_counts(sample.ids, n_words)).to(h.device)
        # true_logits (N,), sampled_logits (N, S)
        true_logits = (h * self.weight[targets]).sum(-1).float() + self.bias[targets] - true_q.log()
        sampled_logits = (h @ self.weight[cand].T).float() + self.bias[cand] - cand_q.log()
        hits = targets.unsqueeze(1) == cand.unsqueeze(0)
        sampled_logits = sampled_logits.masked_fill(hits, NEG_INF)
        logits = torch.cat([true_logits.unsqueeze(1), sampled_logits], dim=1)
        return _cross_entropy(logits, torch.zeros_like(targets))


@dataclass
class Sample:
    """Candidates drawn without replacement from the log-uniform (Zipfian) distribution
    P(k) = log((k + 2) / (k + 1)) / log(K + 1) over frequency-sorted ids, as TF's
    ``log_uniform_candidate_sampler(unique=True)``; ``tries`` draws were needed."""

    ids: numpy.ndarray
    tries: int

    def expected_counts(self, ids: numpy.ndarray, n_words: int) -> numpy.ndarray:
        """Expected times each id is drawn in ``tries`` draws: 1 - (1 - P(k))^tries."""
        p = log_uniform_probability(ids, n_words)
        return (-numpy.expm1(self.tries * numpy.log1p(-p))).astype(numpy.float32)


def log_uniform_probability(ids: numpy.ndarray, n_words: int) -> numpy.ndarray:
    ids = numpy.asarray(ids, dtype=numpy.float64)
    return numpy.log((ids + 2.0) / (ids + 1.0)) / math.log(n_words + 1.0)


def sample_log_uniform(rng: numpy.random.Generator, n_samples: int, n_words: int) -> Sample:
    """Draw until ``n_samples`` distinct ids are found (``n_samples < n_words``)."""
    log_range = math.log(n_words + 1.0)
    found: List[int] = []
    seen = set()
    tries = 0
    while len(found) < n_samples:
        uniform = rng.random(2 * (n_samples - len(found)) + 16)
        draws = numpy.exp(uniform * log_range).astype(numpy.int64) - 1
        for value in numpy.minimum(draws, n_words - 1).tolist():
            tries += 1
            if value not in seen:
                seen.add(value)
                found.append(value)
                if len(found) == n_samples:
                    break
    return Sample(numpy.asarray(found, dtype=numpy.int64), tries)


class LanguageModel(nn.Module):
    """biLM + softmax head: the sum of forward and backward NLL over a batch.

    ``forward(batch, states, sample)`` returns (nll_sum (2,) float32 per direction,
    final_states); with ``sample`` the sampled softmax is used, else the full one.
    A ``WindowBatch`` runs the two streams through ``bilm.lstm`` from ``states``
    (carried between windows); a ``SentenceBatch`` runs ``bilm.contextualize`` from
    the stored initial state.
    """

    def __init__(self, bilm: BiLM, vocab_size: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.bilm = bilm
        self.head = SoftmaxHead(vocab_size, bilm.options.projection_dim)
        self.dropout = dropout

    def forward(self, batch, states: Optional[List[State]] = None, sample: Optional[Sample] = None):
        if isinstance(batch, WindowBatch):
            top, targets, finals = self._windows(batch, states)
        else:
            top, targets, finals = self._sentences(batch)
        # top: (2, N, P) LSTM outputs, targets (2, N); dropout before the softmax (bilm-tf)
        top = nn.functional.dropout(top, self.dropout, self.training) if self.dropout else top
        sums = []
        for direction in range(2):
            keep = targets[direction] != IGNORE
            h, t = top[direction][keep], targets[direction][keep]
            if sample is not None:
                nll = self.head.sampled_nll(h, t, sample)
            else:
                nll = self.head.full_nll(h, t)
            sums.append(nll.sum())
        return torch.stack(sums), finals

    def _encode(self, char_ids: torch.Tensor) -> torch.Tensor:
        # The token encoder runs in float32 even under autocast: its grouped kernels
        # write bfloat16 results into a float32 buffer otherwise.
        with torch.autocast(char_ids.device.type, enabled=False):
            return self.bilm.token_encoder(char_ids)

    def _windows(self, batch: WindowBatch, states: List[State]):
        # vectors (U, P) -> x (2, T, B, P): each stream's window, time-major
        x = gather_rows(self._encode(batch.char_ids), batch.index)
        steps, rows = x.shape[1], x.shape[2]
        outputs, finals = self.bilm.lstm(x, [rows] * steps, states, self.dropout)
        finals = [(h.detach(), c.detach()) for h, c in finals]
        return outputs[-1].reshape(2, steps * rows, -1), batch.targets.reshape(2, -1), finals

    def _sentences(self, batch: SentenceBatch):
        layers, _, _ = self.bilm.contextualize_rows(
            self._encode(batch.char_ids), batch.index, batch.lengths, None, self.dropout)
        P = self.bilm.options.projection_dim
        top = layers[-1]  # (B, T, 2P) = [forward; backward]
        top = torch.stack([top[..., :P], top[..., P:]]).flatten(1, 2)  # (2, B*T, P)
        return top, batch.targets.flatten(1, 2), None


def init_like_original(bilm: BiLM, generator: Optional[torch.Generator] = None) -> BiLM:
    """Re-initialize ``bilm`` as bilm-tf's trainer does before training."""
    opts, enc = bilm.options, bilm.token_encoder
    with torch.no_grad():
        enc.char_embedding.weight.uniform_(-1.0, 1.0, generator=generator)
        enc.char_embedding.weight[0].zero_()  # padding id 0
        for conv, (width, _) in zip(enc.convs, opts.filters):
            if opts.activation == "relu":
                conv.weight.uniform_(-0.05, 0.05, generator=generator)  # Kim et al. 2015
            else:
                std = math.sqrt(1.0 / (width * opts.char_dim))
                conv.weight.normal_(0.0, std, generator=generator)
            conv.bias.zero_()
        for carry, transform in zip(enc.highway.carry, enc.highway.transform):
            for lin in (carry, transform):
                lin.weight.normal_(0.0, math.sqrt(1.0 / opts.n_filters), generator=generator)
            carry.bias.fill_(-2.0)  # start close to the identity
            transform.bias.zero_()
        if enc.projection is not None:
            enc.projection.weight.normal_(0.0, math.sqrt(1.0 / opts.n_filters), generator=generator)
            enc.projection.bias.zero_()
        for layer in bilm.lstm.layers:
            _glorot_lstm(layer, generator)
    return bilm


def _glorot_lstm(layer, generator: Optional[torch.Generator]) -> None:
    # TF's default (glorot uniform) over W_0 = [W_input; W_hidden] (D + P, 4C) and W_P_0
    fan_in = layer.w_input.shape[1] + layer.w_hidden.shape[1]
    bound = math.sqrt(6.0 / (fan_in + layer.w_input.shape[2]))
    layer.w_input.uniform_(-bound, bound, generator=generator)
    layer.w_hidden.uniform_(-bound, bound, generator=generator)
    bound = math.sqrt(6.0 / (layer.w_proj.shape[1] + layer.w_proj.shape[2]))
    layer.w_proj.uniform_(-bound, bound, generator=generator)
    layer.bias.zero_()


def nll_to_perplexity(nll_sum: float, count: int) -> float:
    return math.exp(nll_sum / count) if count else float("nan")


def direction_perplexities(nll_sums: Tuple[float, float], count: int) -> dict:
    """Forward, backward and average (exp of the mean NLL of both) perplexity."""
    forward, backward = (nll_to_perplexity(s, count) for s in nll_sums)
    average = nll_to_perplexity(sum(nll_sums) / 2.0, count)
    return {"forward": forward, "backward": backward, "average": average}
