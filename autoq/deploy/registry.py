"""Kernels: small registered handlers, one per backend and module kind.

A kernel says whether it can run a unit (``offer``: None, or an Offer listing what it
would not honour) and builds the runtime module from the unit's stored tensors
(``runtime``). Build and load both go through ``runtime``, so a loaded model is the
built one. Adding a backend is registering kernels; nothing else changes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class Deviation:
    """Something a kernel runs differently from the recipe (a ``fallbacks`` entry).

    ``lossy``: it runs at lower precision than asked (int8 where float was asked);
    a kernel with such a deviation is chosen only when nothing better can run the unit.
    ``exact``: the numbers are the recipe's, only not computed on a low-precision kernel.
    """

    module: str
    asked: str
    got: str
    why: str
    lossy: bool = False
    exact: bool = False

    def as_dict(self) -> dict[str, str]:
        return {"module": self.module, "asked": self.asked, "got": self.got, "why": self.why}


@dataclass
class Offer:
    kernel: "Kernel"
    scheme: str  # what runs, in words (manifest)
    deviations: list[Deviation] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)  # passed to runtime, kept in the manifest

    @property
    def tier(self) -> int:
        """0: exactly the recipe; 1: only harmless deviations; 2: lower precision than asked."""
        if any(d.lossy for d in self.deviations):
            return 2
        return 1 if any(not d.exact for d in self.deviations) else 0


class Kernel:
    """One backend's way to run one kind of module."""

    backend: str = ""
    kinds: tuple[type, ...] = ()
    devices: tuple[str, ...] = ("cpu",)
    low_precision: bool = True  # holds its weights in low precision while running
    # knob -> values it runs on a real kernel (see choices.deployable_choices)
    choices: dict[str, tuple] = {}

    @property
    def name(self) -> str:
        return f"{self.backend}:{type(self).__name__}"

    def available(self) -> bool:
        return True

    def offer(self, unit) -> Offer | None:
        raise NotImplementedError

    def why_not(self, unit) -> str | None:
        """Why it offers nothing for ``unit``, where it can say (the fallback's reason)."""
        return None

    def runtime(self, module: nn.Module, tensors: dict[str, torch.Tensor], meta: dict,
                options: dict) -> nn.Module:
        raise NotImplementedError


_KERNELS: list[Kernel] = []


def register_kernel(kernel):
    """Register a Kernel instance, or (as a class decorator) an instance of the class."""
    instance = kernel() if isinstance(kernel, type) else kernel
    _KERNELS.append(instance)
    return kernel


def all_kernels() -> list[Kernel]:
    from . import kernels  # noqa: F401  (registers the built-in kernels)
    return list(_KERNELS)


def kernel_named(name: str) -> Kernel | None:
    return next((k for k in all_kernels() if k.name == name), None)


def backend_names() -> list[str]:
    return sorted({k.backend for k in all_kernels()})


def kernels_for(module: nn.Module, device: str = "cpu", backends=None) -> list[Kernel]:
    """Available kernels for ``module`` on ``device`` (``cuda:1`` counts as ``cuda``),
    restricted to ``backends`` if given; in registration order."""
    dev = device.split(":")[0]
    return [k for k in all_kernels()
            if isinstance(module, k.kinds) and dev in k.devices
            and (backends is None or k.backend in backends) and k.available()]
