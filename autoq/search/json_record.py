"""Reading a frozen record (a dataclass) back from the JSON autoq wrote for it."""
from __future__ import annotations

from dataclasses import MISSING, fields
from typing import Any, TypeVar

from ..errors import AutoqError

R = TypeVar("R")


def from_json(cls: type[R], doc: Any, where: str, what: str) -> R:
    """``cls`` from the mapping ``doc``: keys it does not know are left out, a null reads as
    the field's default, and a field without a default that is missing is refused with one
    message naming ``where`` and ``what`` (the file, and what in it)."""
    known = {f.name: f for f in fields(cls)}
    needed = [n for n, f in known.items() if f.default is MISSING]
    missing = sorted(n for n in needed if not isinstance(doc, dict) or n not in doc)
    if missing:
        raise AutoqError(f"{where}: {what} lacks {', '.join(missing)} (written by autoq search; "
                         f"was it edited?)")
    return cls(**{k: v for k, v in doc.items() if k in known and (
        v is not None or known[k].default in (None, MISSING))})
