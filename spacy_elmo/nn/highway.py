"""Highway layers with the gate meaning of the original bilm-tf code."""
import torch
from torch import nn


class Highway(nn.Module):
    """A stack of highway layers, each computing

        g = sigmoid(x W_carry + b_carry)
        t = relu(x W_transform + b_transform)
        y = g * t + (1 - g) * x

    As in bilm-tf, the gate called "carry" weights the *transformed* value, so the
    original weights load with a transpose and no sign flip.
    """

    def __init__(self, width: int, n_layers: int) -> None:
        super().__init__()
        self.carry = nn.ModuleList(nn.Linear(width, width) for _ in range(n_layers))
        self.transform = nn.ModuleList(nn.Linear(width, width) for _ in range(n_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (..., width)
        for carry, transform in zip(self.carry, self.transform):
            gate = torch.sigmoid(carry(x))
            x = gate * torch.relu(transform(x)) + (1.0 - gate) * x
        return x
