"""Search spaces that hold only what deploys: each choice kept to what a backend's (or a
device's) low-precision kernels run, first over all kernels, then per module kind once the
space is bound to a model."""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Mapping

from ..errors import AutoqError
from ..recipe import strip_module
from ..settings import mode_value


def limit_to_backend(defaults: dict, groups: list, backend: str, source: str) -> list:
    """The groups with only the choices ``backend`` runs on real kernels (autoq.deploy).
    Float (``null`` bits) always runs: it needs no kernel."""
    from ..deploy import deployable_choices
    allowed = deployable_choices(backend)

    def runs(knob: str, v: Any) -> bool:
        return v is None or knob not in allowed or _value(knob, v) in allowed[knob]

    for k, v in defaults.items():
        if not runs(k, v):
            raise AutoqError(f"{source} defaults: {k} = {v!r} has no {backend} kernel "
                             f"(allowed: {list(allowed[k])})")
    limited = []
    for g in groups:
        choices = {}
        for knob, options in g.choices.items():
            keep = tuple(o for o in options if runs(knob, o))
            if not keep:
                raise AutoqError(f"{source} group {g.name!r}: no {knob} choice in {list(options)} "
                                 f"runs on {backend} kernels (allowed: {list(allowed[knob])})")
            choices[knob] = keep
        limited.append(dataclasses.replace(g, choices=choices))
    return limited


def limit_by_kind(groups: list, units: dict[str, list[str]], modules: Mapping[str, Any],
                  backend: str) -> list:
    """Each group kept to the choices that every kind of module under its units runs on
    ``backend``'s kernels; kinds no low-precision kernel runs add no limit (they are listed
    where deploy falls back)."""
    from ..deploy import deployable_choices
    limited = []
    for g in groups:
        kinds = {getattr(type(m), "replaces", None) or type(m)  # a modular RNN deploys as its torch class
                 for n, m in modules.items() if n and _under(strip_module(n), units[g.name])}
        choices = dict(g.choices)
        for kind in sorted(kinds, key=lambda k: k.__name__):
            try:
                allowed = deployable_choices(backend, kind)
            except AutoqError:
                continue
            for knob, options in choices.items():
                keep = tuple(o for o in options if o is None or knob not in allowed
                             or _value(knob, o) in allowed[knob])
                if not keep:
                    raise AutoqError(f"search space group {g.name!r}: no {knob} choice in "
                                     f"{list(options)} runs a {kind.__name__} on {backend} kernels "
                                     f"(allowed: {list(allowed[knob])})")
                choices[knob] = keep
        limited.append(dataclasses.replace(g, choices=choices))
    return limited


def _under(name: str, units: list[str]) -> bool:
    return any(re.fullmatch(u, name) or name.startswith(u + ".") for u in units)


def _value(knob: str, v: Any) -> Any:
    """The value kernels constrain: a mode mapping's (or its label's) weights mode."""
    v = mode_value(v) if knob == "mode" else v
    return v.get("weights", "SYMMETRIC") if knob == "mode" and isinstance(v, Mapping) else v
