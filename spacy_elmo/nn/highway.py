"""Highway layers with the gate meaning of the original bilm-tf code."""
from typing import Optional

import torch
from torch import nn

from . import packed
from .derived import DerivedValues


class Highway(nn.Module):
    """A stack of highway layers, each computing

        g = sigmoid(x W_carry + b_carry)
        t = relu(x W_transform + b_transform)
        y = g * t + (1 - g) * x

    As in bilm-tf, the gate called "carry" weights the *transformed* value, so the
    original weights load with a transpose and no sign flip. Without autograd, carry
    and transform of a layer run as one matmul with pre-packed weights (``packed``).
    """

    def __init__(self, width: int, n_layers: int) -> None:
        super().__init__()
        self.carry = nn.ModuleList(nn.Linear(width, width) for _ in range(n_layers))
        self.transform = nn.ModuleList(nn.Linear(width, width) for _ in range(n_layers))

    def forward(self, x: torch.Tensor, derived: Optional[DerivedValues] = None) -> torch.Tensor:
        """x: (..., width). ``derived``: where packed weights are kept (see ``derived``)."""
        for k, (carry, transform) in enumerate(zip(self.carry, self.transform)):
            both = self._packed_layer(k, x, derived)
            if both is None:
                gate = torch.sigmoid(carry(x))
                x = gate * torch.relu(transform(x)) + (1.0 - gate) * x
            else:
                # z: (N, 2 * width), [carry; transform] in one matmul
                z = packed.linear(x, both, None, torch.cat([carry.bias, transform.bias]))
                gate = z[:, : x.shape[1]].sigmoid_()
                # g * t + (1 - g) * x, as x + g * (t - x) in place
                x = z[:, x.shape[1] :].relu_().sub_(x).mul_(gate).add_(x)
        return x

    def _packed_layer(self, k: int, x: torch.Tensor, derived: Optional[DerivedValues]):
        """Layer k's [W_carry; W_transform] packed, when x (N > 1, width) needs no grad."""
        if derived is None or torch.is_grad_enabled() or x.dim() != 2:
            return None
        weights = (self.carry[k].weight, self.transform[k].weight)
        return derived.packed(self, f"layer{k}", weights, lambda: torch.cat(weights))
