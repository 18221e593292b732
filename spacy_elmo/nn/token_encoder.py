"""The context-free token encoder: char embedding, CNN, highway, projection."""
import torch
from torch import nn

from .highway import Highway
from .options import ElmoOptions


class CharCNNEncoder(nn.Module):
    """Map char ids (..., max_chars) to token vectors E (..., P).

    e = embed(ids)                                  (N, max_chars, char_dim)
    f_k = act(max_t conv_k(e)[t])                   (N, n_k) per filter width k
    E = proj(highway([f_1; ...; f_K]))              (N, P)

    The projection is skipped when F = sum n_k already equals P, as in bilm-tf.
    """

    def __init__(self, options: ElmoOptions) -> None:
        super().__init__()
        self.options = options
        self.char_embedding = nn.Embedding(options.embedding_rows, options.char_dim)
        self.convs = nn.ModuleList(
            nn.Conv1d(options.char_dim, n, kernel_size=width) for width, n in options.filters
        )
        self.activation = torch.relu if options.activation == "relu" else torch.tanh
        self.highway = Highway(options.n_filters, options.n_highway)
        self.projection = (
            nn.Linear(options.n_filters, options.projection_dim)
            if options.n_filters != options.projection_dim
            else None
        )

    @property
    def output_dim(self) -> int:
        return self.options.projection_dim

    def forward(self, char_ids: torch.Tensor) -> torch.Tensor:
        # char_ids: (..., max_chars) -> (N, max_chars)
        lead = char_ids.shape[:-1]
        emb = self.char_embedding(char_ids.reshape(-1, char_ids.shape[-1]))
        # emb: (N, max_chars, char_dim) -> (N, char_dim, max_chars) for Conv1d
        emb = emb.transpose(1, 2)
        pooled = [self.activation(conv(emb).amax(dim=2)) for conv in self.convs]
        # features: (N, F)
        features = self.highway(torch.cat(pooled, dim=1))
        if self.projection is not None:
            features = self.projection(features)
        return features.reshape(*lead, features.shape[-1])
