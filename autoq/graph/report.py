"""What graph mode captured, and what it could not, with the reasons."""
from __future__ import annotations

from dataclasses import dataclass, field


class TraceWarning(UserWarning):
    """Part of a model could not be traced (graph mode)."""


@dataclass(frozen=True)
class Untraced:
    """A module whose own forward could not be traced; its children were tried one by one.
    ``name`` is its path in the model ("" for the model itself)."""

    name: str
    type: str
    reason: str

    def __str__(self) -> str:
        return f"{self.name or '<model>'} ({self.type}): {self.reason}"


@dataclass
class TraceReport:
    """``ops``: the op modules added, by full name, in execution order.
    ``traced``: the modules replaced by their graph ("" is the whole model).
    ``untraced``: modules left as they were, with why.
    ``guards``: where a Python branch was fixed by the example (checked at run time).
    ``max_error``: the largest difference between traced and original outputs on the
    example inputs. ``notes``: the rest worth knowing (attention switched to eager,
    torch.nn modules kept whole with ops inside)."""

    ops: list[str] = field(default_factory=list)
    traced: list[str] = field(default_factory=list)
    untraced: list[Untraced] = field(default_factory=list)
    guards: list[str] = field(default_factory=list)
    max_error: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """The whole model was traced as one graph."""
        return not self.untraced and self.traced == [""]

    def summary(self) -> str:
        where = "the whole model" if self.complete else f"{len(self.traced)} part(s)"
        head = (f"graph mode: traced {where}, exposed {len(self.ops)} op(s), "
                f"max |traced - original| = {self.max_error:.3g} on the example")
        lines = [head]
        lines += [f"  not traced: {u}" for u in self.untraced]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)
