"""Modules for the non-parametric ops, so a model written the Distiller way exposes
every add, multiply, matmul and concat to the engine (and to override regexes)."""
import torch
from torch import nn


class EltwiseAdd(nn.Module):
    """Sum of any number of tensors of the same shape."""

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        out = inputs[0]
        for t in inputs[1:]:
            out = out + t
        return out


class EltwiseMult(nn.Module):
    """Element-wise product of any number of tensors."""

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        out = inputs[0]
        for t in inputs[1:]:
            out = out * t
        return out


class Matmul(nn.Module):
    """torch.matmul(a, b)."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.matmul(a, b)


class BatchMatmul(nn.Module):
    """torch.bmm(a, b)."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.bmm(a, b)


class Concat(nn.Module):
    """torch.cat(inputs, dim)."""

    def __init__(self, dim: int = 0):
        super().__init__()
        self.dim = dim

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return torch.cat(inputs, dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
