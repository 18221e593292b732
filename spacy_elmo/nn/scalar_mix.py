"""The task-specific combination of biLM layers."""
from typing import Optional, Sequence

import torch
from torch import nn

from ..errors import Errors


class ScalarMix(nn.Module):
    """ELMo's mix of L+1 layers: ``gamma * sum_j softmax(s)_j * norm(h_j)``.

    n_layers (int): number of layers L+1 to mix.
    weights (Sequence[float]): initial s_j (before the softmax); zeros give the plain average.
    gamma (float): initial scale.
    layer_norm (bool): normalise each layer of each sequence over that sequence's real
        positions first, so a sequence's output does not depend on the rest of the batch.
    trainable (bool): learn s and gamma (False: fixed buffers).
    """

    def __init__(
        self, n_layers: int, weights: Optional[Sequence[float]] = None, gamma: float = 1.0,
        layer_norm: bool = False, trainable: bool = True,
    ) -> None:
        super().__init__()
        init = torch.zeros(n_layers) if weights is None else torch.tensor(weights, dtype=torch.float32)
        if init.shape != (n_layers,):
            raise ValueError(Errors.E013.format(expected=n_layers, found=len(init)))
        gamma_t = torch.tensor([float(gamma)])
        if trainable:
            self.scalars = nn.Parameter(init)
            self.gamma = nn.Parameter(gamma_t)
        else:
            self.register_buffer("scalars", init)
            self.register_buffer("gamma", gamma_t)
        self.layer_norm = layer_norm

    def normalized_weights(self) -> torch.Tensor:
        return torch.softmax(self.scalars, dim=0)

    def forward(self, layers: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """layers: (L+1, ..., T, D); mask: (..., T) true at real positions (None: all).
        The leading ``...`` dims index sequences. Returns (..., T, D)."""
        if self.layer_norm:
            layers = _masked_layer_norm(layers, mask)
        weights = self.normalized_weights().to(layers.dtype)
        # (L+1, 1, ..., 1) broadcast against (L+1, ..., D)
        shape = (-1,) + (1,) * (layers.dim() - 1)
        return self.gamma.to(layers.dtype) * (weights.view(shape) * layers).sum(dim=0)


def _masked_layer_norm(layers: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
    """Normalise each layer of each sequence to mean 0, variance 1 over that sequence's
    real positions and features: (h - mean) / sqrt(var + 1e-12), padding set to 0."""
    if mask is None:
        mask = torch.ones(layers.shape[1:-1], dtype=torch.bool, device=layers.device)
    m = mask.unsqueeze(-1).to(layers.dtype)  # (..., T, 1)
    # (..., 1, 1): real positions times features, per sequence
    count = (m.sum(dim=-2, keepdim=True) * layers.shape[-1]).clamp(min=1.0)
    dims = (-2, -1)  # (L+1, ..., 1, 1) statistics per layer and sequence
    mean = (layers * m).sum(dim=dims, keepdim=True) / count
    var = (((layers - mean) * m) ** 2).sum(dim=dims, keepdim=True) / count
    return (layers - mean) / torch.sqrt(var + 1e-12) * m
