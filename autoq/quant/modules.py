"""Module-tree surgery shared by the engine and deploy."""
from __future__ import annotations

from torch import nn


def set_module(root: nn.Module, name: str, module: nn.Module) -> None:
    """Put ``module`` at dotted ``name`` inside ``root``."""
    parent, _, child = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, child, module)
