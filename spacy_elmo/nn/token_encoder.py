"""The context-free token encoder: char embedding, CNN, highway, projection."""
from typing import List, Optional, Sequence, Tuple

import torch
from torch import nn

from . import packed
from .derived import DerivedValues
from .highway import Highway
from .lexicon import ByteLexicon, EfmlLexicon, Key
from .options import ElmoOptions

# Tokens are convolved in groups of similar length, chosen to minimize the windows
# computed plus GROUP_COST_WINDOWS per group (a matmul call costs about as much as
# that many windows), each of at most MAX_GROUP_WINDOWS windows (bounds the
# (windows, F) scratch: 32 MB for F = 2048).
GROUP_COST_WINDOWS = 8
MAX_GROUP_WINDOWS = 4096


class CharCNNEncoder(nn.Module):
    """Map token ids (..., K) to token vectors E (..., P).

    e = embed(char ids)                             (N, max_chars, char_dim)
    f_k = act(max_t conv_k(e)[t])                   (N, n_k) per filter width k
    E = proj(highway([f_1; ...; f_K]))              (N, P)     "elmo"
    E = proj([word_embed(word id); highway(...)])   (N, P)     "efml" with words

    ``lexicon.ids`` / ``token_ids`` make the ids (K = ``options.token_id_width``: with
    words, column 0 holds the word id). The projection is skipped when F = sum n_k
    already equals P, as in bilm-tf (never for "efml").

    All widths are computed as one matmul: every window of the widest filter W is
    unfolded and multiplied by the filters zero-padded to width W. Windows that lie
    entirely in a token's trailing padding all give the same value, so only the
    windows starting before the padding plus one all-padding window are computed
    (tokens grouped by length): the set of values the max runs over, and so the
    result, is the same as over all ``max_chars - w + 1`` positions.
    """

    def __init__(self, options: ElmoOptions) -> None:
        super().__init__()
        self.options = options
        # row 0 is the batch padding's: zero, and never trained
        self.char_embedding = nn.Embedding(options.embedding_rows, options.char_dim,
                                           padding_idx=0)
        self.word_embedding = (
            nn.Embedding(options.word_rows, options.word_dim, padding_idx=0)
            if options.word_dim else None
        )
        self.convs = nn.ModuleList(
            nn.Conv1d(options.char_dim, n, kernel_size=width) for width, n in options.filters
        )
        self.activation = torch.relu if options.activation == "relu" else torch.tanh
        self.highway = Highway(options.n_filters, options.n_highway)
        self.projection = (
            nn.Linear(options.word_dim + options.n_filters, options.projection_dim)
            if options.has_projection
            else None
        )
        max_chars = options.max_characters_per_token
        self.lexicon = (
            EfmlLexicon(options.n_characters, options.n_words, max_chars)
            if options.token_encoder == "efml" else ByteLexicon(max_chars)
        )
        self.max_width = max(width for width, _ in options.filters)

    @property
    def output_dim(self) -> int:
        return self.options.projection_dim

    def token_ids(self, words: Sequence[Key]) -> torch.Tensor:
        """(n, K) int64 ids of ``words`` (strings or BOS_KEY/EOS_KEY), on our device."""
        ids = torch.from_numpy(self.lexicon.ids(words))
        return ids.to(self.char_embedding.weight.device)

    def forward(self, token_ids: torch.Tensor, derived: Optional[DerivedValues] = None) -> torch.Tensor:
        """(..., K) ids -> (..., P) vectors. ``derived``: where the no-grad path keeps the
        padded filters and packed weights (see ``derived``); None: nothing is kept."""
        derived = derived if derived is not None else DerivedValues()
        # token_ids: (..., K) -> (N, K)
        lead = token_ids.shape[:-1]
        ids = token_ids.reshape(-1, token_ids.shape[-1])
        word_ids = None
        if self.word_embedding is not None:
            word_ids, ids = ids[:, 0], ids[:, 1:]
        weight, bias = self._conv_weight(derived)
        # features: (N, F)
        features = self.activation(self._max_over_windows(ids, weight, derived) + bias)
        features = self.highway(features, derived)
        if word_ids is not None:
            # (N, word_dim + F): word part first, as ELMoForManyLangs concatenates
            features = torch.cat([self.word_embedding(word_ids), features], dim=-1)
        if self.projection is not None:
            features = self._project(features, derived)
        return features.reshape(*lead, features.shape[-1])

    def _project(self, features: torch.Tensor, derived: DerivedValues) -> torch.Tensor:
        proj = self.projection
        if torch.is_grad_enabled():
            return proj(features)
        weight = derived.packed(self, "projection", [proj.weight], lambda: proj.weight)
        return packed.linear(features, weight, proj.weight.t(), proj.bias)

    def _matmul(self, x: torch.Tensor, weight: torch.Tensor, derived: DerivedValues) -> torch.Tensor:
        """x (n, char_dim * W) @ the padded filters (char_dim * W, F), packed without grad."""
        if torch.is_grad_enabled():
            return x @ weight
        params = [conv.weight for conv in self.convs]
        return packed.linear(x, derived.packed(self, "convs", params, lambda: weight.t()), weight)

    def _conv_weight(self, derived: DerivedValues) -> Tuple[torch.Tensor, torch.Tensor]:
        """All filters zero-padded to width W: (char_dim * W, F), and biases (F,)."""
        params = [p for conv in self.convs for p in (conv.weight, conv.bias)]
        if torch.is_grad_enabled() and any(p.requires_grad for p in params):
            return self._padded_filters()
        return (derived.value(self, "conv_weight", lambda: self._padded_filters()[0]),
                derived.value(self, "conv_bias", lambda: self._padded_filters()[1]))

    def _padded_filters(self) -> Tuple[torch.Tensor, torch.Tensor]:
        W = self.max_width
        # conv weights (n, char_dim, w) -> (n, char_dim, W): offsets >= w multiply by 0
        weight = torch.cat(
            [nn.functional.pad(conv.weight, (0, W - conv.weight.shape[2])) for conv in self.convs]
        ).flatten(1).t()
        return weight, torch.cat([conv.bias for conv in self.convs])

    def _max_over_windows(self, ids: torch.Tensor, weight: torch.Tensor, derived: DerivedValues) -> torch.Tensor:
        """max over positions of every filter (before bias and activation): (N, F)."""
        n_rows, max_chars = ids.shape
        # used[r]: chars before row r's trailing run of its last id (the padding)
        differs = ids != ids[:, -1:]
        used = torch.where(differs.any(1), max_chars - differs.flip(1).int().argmax(1), 0)
        order = torch.argsort(used)
        out = weight.new_empty(n_rows, weight.shape[1])
        for start, stop, longest in _length_groups(used[order].tolist()):
            rows = order[start:stop]
            out[rows] = self._group_max(ids[rows], longest, weight, derived)
        return out

    def _group_max(
        self, ids: torch.Tensor, longest: int, weight: torch.Tensor, derived: DerivedValues
    ) -> torch.Tensor:
        """Rows whose padding starts at or before ``longest``: (n, F)."""
        W, max_chars = self.max_width, ids.shape[1]
        if longest + W <= max_chars:
            # windows 0..longest: all real ones and one all-padding window per row
            emb = self.char_embedding(ids[:, : longest + W])
            mask = None
        else:
            # every position, zero columns appended; windows past a width's end masked
            emb = nn.functional.pad(self.char_embedding(ids), (0, 0, 0, W - 1))
            mask = self._invalid_windows(max_chars, weight)
        # windows: (n, positions, char_dim, W) -> (n * positions, char_dim * W)
        windows = emb.unfold(1, W, 1)
        n, positions = windows.shape[:2]
        conv = self._matmul(windows.reshape(n * positions, -1), weight, derived).view(n, positions, -1)
        if mask is not None:
            conv = conv.masked_fill(mask, float("-inf"))
        return conv.amax(dim=1)

    def _invalid_windows(self, max_chars: int, weight: torch.Tensor) -> torch.Tensor:
        """(max_chars, F) bool: position t is past the last window of the filter's width."""
        widths = torch.cat([
            torch.full((n,), width) for width, n in self.options.filters
        ]).to(weight.device)
        positions = torch.arange(max_chars, device=weight.device).unsqueeze(1)
        return positions > max_chars - widths.unsqueeze(0)


def _length_groups(used: List[int]) -> List[Tuple[int, int, int]]:
    """Split rows sorted by ``used`` into groups (start, stop, longest)."""
    # runs of equal values: values[i] from row starts[i] to starts[i + 1]
    values: List[int] = []
    starts: List[int] = []
    for row, value in enumerate(used):
        if not values or value != values[-1]:
            values.append(value)
            starts.append(row)
    starts.append(len(used))
    # cost[j]: least cost of the first j runs, the last group starting at run cut[j]
    cost, cut = [0.0] + [float("inf")] * len(values), [0] * (len(values) + 1)
    for j in range(1, len(values) + 1):
        for i in range(j):
            total = cost[i] + (starts[j] - starts[i]) * (values[j - 1] + 1) + GROUP_COST_WINDOWS
            if total < cost[j]:
                cost[j], cut[j] = total, i
    groups = []
    j = len(values)
    while j > 0:
        i = cut[j]
        rows = max(1, MAX_GROUP_WINDOWS // (values[j - 1] + 1))
        groups.extend(
            (start, min(start + rows, starts[j]), values[j - 1])
            for start in range(starts[i], starts[j], rows)
        )
        j = i
    return groups
