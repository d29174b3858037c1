"""Search spaces: which modules the study tunes, which knobs, which choices.

A space is YAML (see search_spaces/README.md)::

    defaults: {bits_weights: 8, bits_activations: 8, mode: ASYMMETRIC_SIGNED}
    groups:
      - name: encoder
        modules: 'encoder\\.rnn_layers\\.\\d+'   # regex, full match
        per_layer: true                        # one set of knobs per matched module
        bits_weights: [4, 6, 8]
        activations: [static, dynamic]
    seeds: [gnmt_distiller.yaml]               # recipes to start from, relative to this file

A trial's choices become a Recipe: each group adds an override (the module's exact
name when per layer, else the group's regex).
"""
from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping


from .. import yaml_io
from ..errors import AutoqError
from ..quant import make_plan
from ..quant.config import build_config
from ..recipe import Recipe, strip_module
from ..settings import ACTIVATIONS, KNOBS, mode_label, mode_value
from .deployable import limit_by_kind, limit_to_backend

GROUP_KEYS = ("name", "modules", "per_layer", "clip_n_stds") + KNOBS


@dataclass(frozen=True)
class Group:
    name: str
    pattern: str
    per_layer: bool
    choices: dict[str, tuple]  # knob -> choices (one choice: fixed)
    fixed: dict[str, Any] = field(default_factory=dict)  # settings that are not searched


@dataclass
class SearchSpace:
    defaults: dict[str, Any]
    groups: list[Group]
    seeds: list[Recipe] = field(default_factory=list)
    seed_names: list[str] = field(default_factory=list)
    units: dict[str, list[str]] = field(default_factory=dict)  # group -> override keys
    graph: bool = False  # trace the model first (autoq.graph): functional ops become modules
    min_agreement: float | None = None  # the search's --min-agreement when it gives none
    front_margin: float = 0.0  # the search's --front-margin when it gives none
    refine: int = 0  # the search's --refine when it gives none
    deployable: str | None = None  # keep choices to what this backend or device runs

    @classmethod
    def load(cls, path: str | Path) -> "SearchSpace":
        path = Path(path)
        return cls.from_dict(yaml_io.load(path, "search space"), f"search space {path}", path.parent)

    @classmethod
    def from_dict(cls, doc: Any, source: str = "search space", base: Path = Path(".")) -> "SearchSpace":
        if not isinstance(doc, Mapping) or not isinstance(doc.get("groups"), list) or not doc["groups"]:
            raise AutoqError(f"{source}: expected a mapping with a non-empty 'groups' list")
        keys = ("task", "defaults", "groups", "seeds", "deployable", "graph", "min_agreement",
                "front_margin", "refine")
        unknown = set(doc) - set(keys)
        if unknown:
            raise AutoqError(f"{source}: unknown key(s) {sorted(unknown)} (allowed: {', '.join(keys)})")
        if not isinstance(doc.get("graph", False), bool):
            raise AutoqError(f"{source}: graph must be true or false")
        agree = doc.get("min_agreement")
        if agree is not None and (isinstance(agree, bool) or not isinstance(agree, (int, float))
                                  or not 0 <= agree <= 1):
            raise AutoqError(f"{source}: min_agreement {agree!r} is not allowed (allowed: a share "
                             f"from 0, off, to 1)")
        margin = doc.get("front_margin", 0)
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not margin >= 0:
            raise AutoqError(f"{source}: front_margin {margin!r} is not allowed (allowed: a "
                             f"number of the metric's units, 0 or more)")
        refine = doc.get("refine", 0)
        if isinstance(refine, bool) or not isinstance(refine, int) or refine < 0:
            raise AutoqError(f"{source}: refine {refine!r} is not allowed (allowed: a whole "
                             f"number of trials, 0 or more)")
        if not isinstance(doc.get("defaults") or {}, Mapping):
            raise AutoqError(f"{source}: defaults must be a mapping of recipe settings "
                             f"(e.g. {{bits_weights: 8, bits_activations: 8}}), not {doc['defaults']!r:.80}")
        seeds_given = doc.get("seeds") or []
        if not isinstance(seeds_given, list) or not all(isinstance(x, str) for x in seeds_given):
            raise AutoqError(f"{source}: seeds must be a list of recipe file names, relative to the "
                             f"space's file (got {seeds_given!r:.80})")
        defaults = dict(doc.get("defaults") or {})
        build_config(defaults, f"{source} defaults")
        groups = [_group(g, i, source) for i, g in enumerate(doc["groups"])]
        if doc.get("deployable"):
            groups = limit_to_backend(defaults, groups, str(doc["deployable"]), source)
        names = [g.name for g in groups]
        if len(set(names)) != len(names):
            raise AutoqError(f"{source}: group names must be unique (got {names})")
        seeds, seed_names = [], []
        for s in seeds_given:
            seeds.append(Recipe.load(base / s))
            seed_names.append(Path(s).stem)
        return cls(defaults, groups, seeds, seed_names, graph=doc.get("graph", False),
                   deployable=str(doc["deployable"]) if doc.get("deployable") else None,
                   min_agreement=agree or None, front_margin=float(margin), refine=refine)

    def bind(self, module_names: list[str], modules: Mapping[str, Any] | None = None) -> "SearchSpace":
        """Resolve each group's modules against a prepared model's module names; with the
        ``modules`` themselves, a deployable space also keeps each group to the choices
        that every module kind it holds runs (a conv: static activations only)."""
        names = [strip_module(n) for n in module_names if n]
        for g in self.groups:
            rx = re.compile(g.pattern)
            hits = [n for n in names if rx.fullmatch(n)]
            if not hits:
                close = ", ".join(difflib.get_close_matches(g.pattern, names, n=5, cutoff=0.0))
                raise AutoqError(f"search space group {g.name!r}: modules {g.pattern!r} matches no "
                                 f"module; closest module names: {close}")
            if g.per_layer:  # outermost matches only: a matched container covers its children
                hits = [h for h in hits if not any(h.startswith(o + ".") for o in hits if o != h)]
                self.units[g.name] = hits
            else:
                self.units[g.name] = [g.pattern]
        if self.deployable and modules is not None:
            self.groups = limit_by_kind(self.groups, self.units, modules, self.deployable)
        return self

    def knobs(self) -> dict[str, tuple]:
        """Every searched knob as {'unit:knob': choices}; a knob with one choice is fixed."""
        return {f"{unit}:{knob}": options for g in self.groups for unit in self.units[g.name]
                for knob, options in g.choices.items() if len(options) > 1}

    def suggest(self, trial) -> Recipe:
        """Ask ``trial`` (an Optuna trial) for every choice; return the recipe."""
        return self.recipe({k: trial.suggest_categorical(k, list(c)) for k, c in self.knobs().items()})

    def complete(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Every knob's choice: the given ones, the first option for the rest."""
        return {k: params.get(k, options[0]) for k, options in self.knobs().items()}

    def recipe(self, params: Mapping[str, Any]) -> Recipe:
        """The recipe for a full set of choices (missing ones take their first option)."""
        overrides, activations = {}, {}
        for g in self.groups:
            for unit in self.units[g.name]:
                overrides[unit], act = self.unit_settings(g, unit, params)
                if act is not None:
                    activations[unit] = act
        return Recipe.build(self.defaults, overrides, activations, graph=self.graph)

    def express(self, recipe: Recipe, model) -> dict[str, Any] | None:
        """The choices whose recipe quantizes every module of ``model`` as ``recipe`` does,
        or None when the space cannot say it. Coordinate ascent over the knobs: each
        takes the choice that agrees with ``recipe`` on most settings of most modules."""
        target = {n: dataclasses.astuple(c) for n, c in make_plan(model, recipe).configs.items()}

        def agreed(p: dict) -> int:
            got = make_plan(model, self.recipe(p)).configs
            return sum(a == b for n, c in got.items() for a, b in zip(dataclasses.astuple(c), target[n]))

        params, knobs = self.complete({}), self.knobs()
        best = agreed(params)
        for _ in range(3):
            before = best
            for k, options in knobs.items():
                for option in options:
                    trial = {**params, k: option}
                    if option != params[k] and (n := agreed(trial)) > best:
                        params, best = trial, n
            if best == before:
                break
        return params if best == sum(map(len, target.values())) else None

    def alone(self, unit: str, bits_weights: int) -> Recipe:
        """Only ``unit`` quantized, at ``bits_weights`` with its other knobs' first choices
        (the space's defaults where its group sets none) and 8-bit activations; everything
        else float (sensitivity analysis)."""
        g = next(g for g in self.groups if unit in self.units[g.name])
        settings, act = self.unit_settings(g, unit, {f"{unit}:bits_weights": bits_weights})
        floats = {**self.defaults, "bits_weights": None, "bits_activations": None}
        return Recipe.build(floats, {unit: {**settings, "bits_activations": 8}},
                            {unit: act} if act is not None else {}, graph=self.graph)

    def alone_none(self) -> Recipe:
        """Every module float: what ``alone`` recipes are measured against."""
        return Recipe.build({**self.defaults, "bits_weights": None, "bits_activations": None},
                            graph=self.graph)

    @staticmethod
    def unit_settings(g: Group, unit: str, params: Mapping[str, Any]) -> tuple[dict, str | None]:
        """(override settings, activations or None) of one unit for a set of choices."""
        settings = dict(g.fixed)
        for knob, options in g.choices.items():
            settings[knob] = params.get(f"{unit}:{knob}", options[0])
        if "mode" in settings:
            settings["mode"] = mode_value(settings["mode"])
        return settings, settings.pop("activations", None)


def _group(g: Any, i: int, source: str) -> Group:
    where = f"{source} group {i}"
    if not isinstance(g, Mapping) or "modules" not in g:
        raise AutoqError(f"{where}: a group is a mapping with at least 'modules' (a regex)")
    unknown = set(g) - set(GROUP_KEYS)
    if unknown:
        raise AutoqError(f"{where}: unknown key(s) {sorted(unknown)} (allowed: {', '.join(GROUP_KEYS)})")
    name = str(g.get("name", f"group{i}"))
    try:
        re.compile(g["modules"])
    except (re.error, TypeError) as e:
        raise AutoqError(f"{where} ({name!r}): modules {g['modules']!r} is not a valid regex ({e})") from None
    choices: dict[str, tuple] = {}
    for knob in KNOBS:
        if knob not in g:
            continue
        options = g[knob] if isinstance(g[knob], list) else [g[knob]]
        if not options:
            raise AutoqError(f"{where} ({name!r}): {knob} has no choices")
        for option in options:
            if knob == "activations":
                if option not in ACTIVATIONS:
                    raise AutoqError(f"{where} ({name!r}): activations = {option!r} is not allowed "
                                     f"(allowed: {', '.join(ACTIVATIONS)})")
            else:
                build_config({knob: option, "clip_n_stds": g.get("clip_n_stds")}
                             if knob == "clip_acts" else {knob: option}, f"{where} ({name!r})")
        if len({repr(o) for o in options}) != len(options):
            raise AutoqError(f"{where} ({name!r}): {knob} lists a choice twice ({options!r:.80}); "
                             f"each choice once")
        choices[knob] = tuple(mode_label(o) if knob == "mode" else o for o in options)
    if not isinstance(g.get("per_layer", False), bool):
        raise AutoqError(f"{where} ({name!r}): per_layer {g['per_layer']!r:.40} is not allowed "
                         f"(allowed: true, false)")
    fixed = {"clip_n_stds": g["clip_n_stds"]} if "clip_n_stds" in g else {}
    return Group(name, str(g["modules"]), g.get("per_layer", False), choices, fixed)
