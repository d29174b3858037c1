"""What share of a model autoq can quantize at all, and what it leaves float: the modules
that hold parameters (or buffers) and that no handler covers, with their bytes. Said by
``autoq check``, ``autoq size`` and the start of a search, so that nothing stays float in
silence; and a recipe override that governs no quantizable module is refused.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..errors import AutoqError
from ..recipe import Recipe, strip_module
from .fold import FoldedBatchNorm
from .handlers import handler_for, quantizable_types

FLOAT_BYTES = 4


@dataclass(frozen=True)
class Uncovered:
    name: str
    kind: str
    bytes: int  # its own parameters and buffers, as stored in FP32


@dataclass(frozen=True)
class Coverage:
    total_bytes: int  # every parameter and buffer of the model, once each
    covered_bytes: int  # those held by modules a handler quantizes
    uncovered: tuple[Uncovered, ...]  # parameter-holding modules no handler covers, largest first

    @property
    def share(self) -> float:
        return self.covered_bytes / self.total_bytes if self.total_bytes else 1.0

    def summary(self, most: int = 5) -> str:
        """One line: the share a recipe can quantize, and the largest modules left float."""
        line = f"{self.share:.1%} of the model's {self.total_bytes / 1e6:.3g} MB is in modules autoq quantizes"
        if self.uncovered:
            listed = ", ".join(f"{u.name} ({u.kind}, {u.bytes / 1e6:.3g} MB)" for u in self.uncovered[:most])
            more = f" and {len(self.uncovered) - most} more" if len(self.uncovered) > most else ""
            line += f"; float in every recipe: {listed}{more}"
        return line

    def to_json(self) -> dict:
        return {"quantizable_share": round(self.share, 4), "total_bytes": self.total_bytes,
                "uncovered": [vars(u) for u in self.uncovered]}


def _own_bytes(module: nn.Module, seen: set[int]) -> int:
    total = 0
    for t in [*module.parameters(recurse=False), *module.buffers(recurse=False)]:
        if id(t) not in seen:
            seen.add(id(t))
            total += t.numel() * (FLOAT_BYTES if t.is_floating_point() else t.element_size())
    return total


def coverage(model: nn.Module) -> Coverage:
    """The coverage of a prepared model (torch RNNs modular, graph traced where asked)."""
    seen: set[int] = set()
    covered = total = 0
    uncovered = []
    for name, module in model.named_modules():
        own = _own_bytes(module, seen)
        total += own
        if handler_for(module) is not None:
            covered += own
        elif own and any(True for _ in module.parameters(recurse=False)) and not _inside_covered(model, name):
            uncovered.append(Uncovered(strip_module(name) or "(root)", type(module).__name__, own))
    return Coverage(total, covered, tuple(sorted(uncovered, key=lambda u: -u.bytes)))


def _inside_covered(model: nn.Module, name: str) -> bool:
    """A module inside a handled one (its parameters are the handler's to store)."""
    parts = name.split(".")
    return any(handler_for(model.get_submodule(".".join(parts[:i]))) is not None
               for i in range(1, len(parts)))


def check_overrides(model: nn.Module, recipe: Recipe, configs: dict, governed: set) -> None:
    """Refuse an override that governs no module autoq quantizes (``governed``: the keys
    that do): it would claim bits the model never gets (a LayerNorm, a BatchNorm), or it is
    shadowed by another override."""
    for key in recipe.overrides:
        if key in governed:
            continue
        inside = [n for n in configs if _matches(recipe, key, n)]
        if inside:
            raise AutoqError(f"recipe override {key!r}: every module it matches ({inside[0]!r} "
                             f"first) is governed by another override, so it changes nothing")
        matched = [(n, m) for n, m in model.named_modules() if n and recipe.key_matches(key, n)]
        folded = [(n, m.into) for n, m in matched if isinstance(m, FoldedBatchNorm)]
        if folded:
            raise AutoqError(f"recipe override {key!r}: {folded[0][0]!r} is a BatchNorm autoq folded "
                             f"into the conv {folded[0][1]!r} (its scale and shift are that conv's "
                             f"weights now): set its bits on {folded[0][1]!r} instead")
        kinds = sorted({type(m).__name__ for _, m in matched})
        allowed = ", ".join(sorted({t.__name__ for t in quantizable_types()}))
        raise AutoqError(f"recipe override {key!r} matches only modules autoq does not quantize "
                         f"({', '.join(kinds)}), so it would claim bits they never get (module kinds "
                         f"covered: {allowed})")


def _matches(recipe: Recipe, key: str, name: str) -> bool:
    """``key`` names module ``name`` or one of its parents."""
    parts = strip_module(name).split(".")
    return any(recipe.key_matches(key, ".".join(parts[:i])) for i in range(len(parts), 0, -1))
