"""Checks the traced graph runs on every call, for what the example fixed at trace time."""
from __future__ import annotations

from typing import Any

from ..errors import AutoqError


def check_branch(value: Any, expected: bool, where: str) -> None:
    """Guard: a branch fixed at trace time must go the same way now."""
    if bool(value) != expected:
        raise AutoqError(f"the traced graph assumed the branch at {where} is {expected}; "
                         f"this input takes the other way: trace again with such an input")


def check_constant(value: Any, expected: Any, name: str) -> None:
    """Guard: a non-tensor input fixed at trace time must keep its value."""
    if not (value is expected or (type(value) is type(expected) and value == expected)):
        raise AutoqError(f"the traced graph fixed input {name} = {expected!r} but got {value!r}: "
                         f"trace again with such an input")


def check_keys(kwargs: dict, expected: tuple, name: str) -> None:
    """Guard: the keywords that ``**name`` catches must be the example's."""
    if tuple(sorted(kwargs)) != expected:
        raise AutoqError(f"the traced graph fixed the keywords of **{name} to {list(expected)} "
                         f"but got {sorted(kwargs)}: trace again with such an input")
