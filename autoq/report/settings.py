"""A trial's per-layer settings as short lines of text, e.g. 'rnn: W4 A8 dynamic'."""
from __future__ import annotations

from typing import Any, Mapping

import optuna

from ..errors import AutoqError
from ..recipe import Recipe
from ..search.trial_record import TrialRecord

LETTER = {"bits_weights": "W", "bits_activations": "A"}
SHORT = {"clip_acts": "clip", "clip_n_stds": "n_stds"}
ORDER = ("bits_weights", "bits_activations", "activations", "mode", "clip_acts", "clip_n_stds",
         "per_channel_wts", "bits_bias", "bits_accum")
MAX_LINES = 24  # a hover box must stay on the screen


def describe(settings: Mapping[str, Any]) -> str:
    """'W4 A8 dynamic clip=AVG' (None bits mean float)."""
    parts = []
    for knob in sorted(settings, key=lambda k: ORDER.index(k) if k in ORDER else len(ORDER)):
        v = settings[knob]
        if knob in LETTER:
            parts.append(f"{LETTER[knob]}{'fp32' if v is None else v}")
        elif knob == "activations":
            parts.append(str(v))
        elif knob == "per_channel_wts":
            parts.append("per-channel" if v else "per-tensor")
        else:
            parts.append(f"{SHORT.get(knob, knob)}={v}")
    return " ".join(parts)


def from_params(params: Mapping[str, Any]) -> list[str]:
    """Searched trials: params are named '<module or regex>:<knob>'."""
    units: dict[str, dict[str, Any]] = {}
    for name, value in params.items():
        unit, _, knob = name.rpartition(":")  # a regex may hold ':' itself; the knob never does
        units.setdefault(unit, {})[knob] = value
    return [f"{unit}: {describe(knobs)}" for unit, knobs in units.items()]


def from_recipe(text: str) -> list[str]:
    """Seeds (no params): the recipe's defaults, overrides and dynamic activations."""
    try:
        recipe = Recipe.from_yaml(text)
    except AutoqError:
        return ["(recipe not readable)"]
    lines = [f"all: {describe(recipe.defaults)}"] if recipe.defaults else []
    lines += [f"{key}: {describe(s)}" for key, s in recipe.overrides.items()]
    lines += [f"{key}: {mode} activations" for key, mode in recipe.activations.items()]
    return lines


def settings_lines(trial: optuna.trial.FrozenTrial) -> list[str]:
    """Unescaped lines; whoever shows them escapes them."""
    r = TrialRecord.of(trial)
    if r.seed == "fp32":
        return ["float model (not quantized)"]
    if trial.params:
        lines = from_params(trial.params)
    elif isinstance(r.recipe, str):
        lines = from_recipe(r.recipe)
    else:
        lines = []
    if len(lines) > MAX_LINES:
        lines = lines[:MAX_LINES - 1] + [f"... and {len(lines) - MAX_LINES + 1} more"]
    return lines
