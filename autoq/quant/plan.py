"""A plan: a recipe checked against a prepared model, with every quantizable module's
validated config. Made once, then handed to what applies or measures it.

Planning checks the whole recipe against the model before anything is applied.
"""
from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass
from functools import cached_property

from torch import nn

from ..errors import AutoqError
from ..recipe import TO_GLOBAL, Recipe, strip_module
from .config import QuantConfig, build_config
from .coverage import check_overrides
from .handlers import handler_for, needs_act_stats
from .stats import Stats

FLOAT = QuantConfig(bits_weights=None, bits_activations=None, bits_bias=None)


@dataclass(frozen=True, eq=False)
class Plan:
    model: nn.Module  # the prepared model (autoq.prepare) the configs name modules of
    recipe: Recipe | None  # None: nothing quantized (FP32)
    configs: dict[str, QuantConfig]  # module name -> config, in model order

    @cached_property
    def key(self) -> str:
        """A digest of every module's config: recipes that quantize alike share it (float
        activations' settings are canonical in the config, so they act on nothing here).
        Made once: a trial asks for it several times."""
        return hashlib.sha1(repr(sorted(self.configs.items())).encode()).hexdigest()[:16]

    @cached_property
    def _modules(self) -> dict[str, nn.Module]:
        return dict(self.model.named_modules())

    def exposed_ops(self) -> dict[str, QuantConfig]:
        """The entries of ops graph mode exposed (``autoq.graph``): no deploy kernel runs
        them, so a deployed model keeps them as the torch code they were traced from."""
        return {n: c for n, c in self.configs.items()
                if getattr(self._modules[n], "graph_exposed", False)}

    def needs_stats(self) -> list[str]:
        """Modules whose activations are quantized from statistics."""
        return [n for n, c in self.configs.items()
                if c.bits_activations not in (None, 16) and not c.dynamic
                and needs_act_stats(self._modules[n])]

    def check_stats(self, stats: Stats | None) -> None:
        """Every module quantized from statistics must have them (same model, same names)."""
        needed = self.needs_stats()
        if needed and stats is None:
            raise AutoqError(f"static activation quantization of {len(needed)} module(s) "
                             f"(first: {needed[0]!r}) needs calibration statistics: collect them "
                             f"or make those modules dynamic")
        missing = [n for n in needed if n not in stats or "output" not in stats[n]]
        if missing:
            raise AutoqError(f"the statistics lack {len(missing)} module(s) this model quantizes "
                             f"statically (first: {missing[0]!r}): they were made for another model")


def _closest(key: str, names: list[str]) -> str:
    close = difflib.get_close_matches(key, names, n=5, cutoff=0.0)
    return ", ".join(close)


def _graph_hint(recipe: Recipe, key: str) -> str:
    """For a recipe without graph mode naming what looks like an op graph mode exposes."""
    if recipe.graph or not any(op in key for op in ("matmul", "bmm", "eltwise", "concat")):
        return ""
    return ("; ops graph mode exposes are named like this: a recipe from a graph-mode study "
            "says `autoq: {graph: true}`, and is scored on the traced model only then")


def _check_keys(recipe: Recipe, names: list[str]) -> None:
    """Every override and ``autoq.activations`` key must govern some module."""
    for key in recipe.overrides:
        if recipe.match(key) == key and key in names:
            continue
        if not any(recipe.key_matches(key, n) for n in names):  # shadowed: check_overrides
            raise AutoqError(f"recipe override {key!r} matches no module; closest module names: "
                             f"{_closest(key, names)}{_graph_hint(recipe, key)}")
    for key in recipe.activations:
        if not any(recipe.activation_key(n) == strip_module(key) for n in names):
            raise AutoqError(f"recipe autoq.activations {key!r} matches no module; "
                             f"closest module names: {_closest(key, names)}")


def make_plan(model: nn.Module, recipe: Recipe | None) -> Plan:
    """Validate ``recipe`` against ``model`` (already prepared) and resolve every module;
    ``recipe`` None plans FP32."""
    if recipe is None:
        return Plan(model, None, {})
    named = [(n, m) for n, m in model.named_modules() if n]
    _check_keys(recipe, [strip_module(n) for n, _ in named])
    # the global settings first, named in messages as Distiller's global keys
    build_config(recipe.defaults, "recipe global settings", spelling=TO_GLOBAL)
    configs: dict[str, QuantConfig] = {}
    governed: set[str | None] = set()
    channel_keys: dict[str, bool] = {}
    for name, module in named:
        if handler_for(module) is None:
            continue
        if getattr(module, "graph_exposed", False) and recipe.match(strip_module(name)) is None:
            configs[name] = FLOAT  # an op graph mode exposed: float unless named itself
            continue
        key = recipe.governing_key(name)
        governed.add(key)
        where = (f"recipe override {key!r} (module {name!r})" if key is not None
                 else f"recipe global settings (module {name!r})")
        configs[name] = build_config(recipe.settings(name), where, recipe.is_dynamic(name))
        if key is not None and recipe.overrides[key].get("per_channel_wts") is True:
            channel_keys[key] = channel_keys.get(key, False) or hasattr(module, "weight")
    for key, has_channels in channel_keys.items():
        if not has_channels:
            raise AutoqError(f"recipe override {key!r}: per_channel_wts = true but no module it "
                             f"matches has weight channels (allowed on Linear, Conv1d, Conv2d, "
                             f"Embedding)")
    check_overrides(model, recipe, configs, governed)
    return Plan(model, recipe, configs)
