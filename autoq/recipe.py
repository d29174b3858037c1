"""Recipes: Distiller's PostTrainLinearQuantizer YAML as plain data.

A recipe file looks like Distiller's::

    quantizers:
      post_train_quantizer:
        class: PostTrainLinearQuantizer
        bits_activations: 8
        bits_parameters: 8
        mode: ASYMMETRIC_SIGNED
        per_channel_wts: true
        clip_acts: AVG
        overrides:
          .*att_rnn.attn.*: {clip_acts: NONE}
    autoq:                         # autoq's own settings; Distiller ignores this block
      activations: {.*encoder.*: dynamic}   # static (default) or dynamic ranges
      graph: true                  # names refer to a traced model (autoq.graph)

Override keys are regexes matched in full against module names (a leading
``module.`` stripped): an exact name beats any regex, else the first matching key
wins. A module no key matches takes the override of its nearest matched parent.
``autoq.activations`` keys resolve the same way.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import yaml

from .errors import AutoqError
from . import yaml_io
from .io import write_atomic
from .settings import ACTIVATIONS, DYNAMIC, KEYS

QUANTIZER_CLASS = "PostTrainLinearQuantizer"
# global (Distiller) key -> per-module key
GLOBAL_KEYS = {"bits_activations": "bits_activations", "bits_parameters": "bits_weights",
               "bits_bias": "bits_bias", "bits_accum": "bits_accum", "mode": "mode",
               "per_channel_wts": "per_channel_wts", "clip_acts": "clip_acts",
               "clip_n_stds": "clip_n_stds"}
TO_GLOBAL = {v: k for k, v in GLOBAL_KEYS.items()}  # per-module key -> global key
OTHER_KEYS = ("class", "overrides", "model_activation_stats")
AUTOQ_KEYS = ("activations", "graph")


def strip_module(name: str) -> str:
    return name[len("module."):] if name.startswith("module.") else name


def _compile(key: str, where: str) -> re.Pattern:
    try:
        return re.compile(strip_module(key))
    except re.error as e:
        raise AutoqError(f"{where}: {key!r} is not a valid regular expression ({e})") from None


@dataclass
class Recipe:
    """A quantizer's settings (``quantizer``, Distiller's mapping, kept as written) plus
    autoq's own: static or dynamic activation ranges per module, and graph mode."""

    quantizer: dict[str, Any]
    activations: dict[str, str] = field(default_factory=dict)
    name: str = "post_train_quantizer"
    graph: bool = False  # module names refer to the model traced by autoq.graph

    def __post_init__(self):
        q = self.quantizer
        if q.get("class", QUANTIZER_CLASS) != QUANTIZER_CLASS:
            raise AutoqError(f"recipe: quantizer class {q.get('class')!r} is not supported "
                             f"(allowed: {QUANTIZER_CLASS})")
        unknown = set(q) - set(GLOBAL_KEYS) - set(OTHER_KEYS)
        if unknown:
            raise AutoqError(f"recipe: unknown quantizer key(s) {sorted(unknown)} (allowed: "
                             f"{', '.join(list(GLOBAL_KEYS) + list(OTHER_KEYS))})")
        overrides = q.get("overrides") or {}
        if not isinstance(overrides, Mapping):
            raise AutoqError("recipe: overrides must be a mapping of module name or regex to settings")
        for key, value in overrides.items():
            if not isinstance(value, Mapping):
                raise AutoqError(f"recipe: override {key!r} must be a mapping of settings "
                                 f"(allowed keys: {', '.join(KEYS)})")
            unknown = set(value) - set(KEYS)
            if unknown:
                raise AutoqError(f"recipe: override {key!r} has unknown key(s) {sorted(unknown)} "
                                 f"(allowed: {', '.join(KEYS)})")
        if not isinstance(self.activations, Mapping) or any(
                v not in ACTIVATIONS for v in self.activations.values()):
            raise AutoqError(f"recipe: autoq.activations must map module names or regexes to "
                             f"static or dynamic (got {self.activations!r})")
        self._overrides = {strip_module(str(k)): dict(v) for k, v in overrides.items()}
        self._patterns = [(k, _compile(k, "recipe override")) for k in self._overrides]
        self._acts = {strip_module(str(k)): v for k, v in self.activations.items()}
        self._act_patterns = [(k, _compile(k, "recipe autoq.activations")) for k in self._acts]

    # --- construction -------------------------------------------------------
    @classmethod
    def build(cls, defaults: Mapping[str, Any] | None = None,
              overrides: Mapping[str, Mapping[str, Any]] | None = None,
              activations: Mapping[str, str] | None = None, graph: bool = False) -> "Recipe":
        """A recipe from per-module key names (``bits_weights`` etc.)."""
        q: dict[str, Any] = {"class": QUANTIZER_CLASS}
        for k, v in (defaults or {}).items():
            if k not in TO_GLOBAL:
                raise AutoqError(f"recipe: unknown default key {k!r} (allowed: {', '.join(KEYS)})")
            q[TO_GLOBAL[k]] = v
        if overrides:
            q["overrides"] = {k: dict(v) for k, v in overrides.items()}
        return cls(q, dict(activations or {}), graph=graph)

    @classmethod
    def from_dict(cls, doc: Any, source: str = "recipe") -> "Recipe":
        if not isinstance(doc, Mapping) or not isinstance(doc.get("quantizers"), Mapping):
            raise AutoqError(f"{source}: expected a top-level 'quantizers:' mapping (Distiller's "
                             f"format)")
        unknown = set(doc) - {"quantizers", "autoq"}
        if unknown:
            raise AutoqError(f"{source}: unknown top-level key(s) {sorted(unknown)} "
                             f"(allowed: quantizers, autoq)")
        if len(doc["quantizers"]) != 1:
            raise AutoqError(f"{source}: 'quantizers' must hold exactly one quantizer, "
                             f"found {len(doc['quantizers'])}")
        (name, q), = doc["quantizers"].items()
        if not isinstance(q, Mapping):
            raise AutoqError(f"{source}: quantizer {name!r} must be a mapping")
        if not isinstance(doc.get("autoq") or {}, Mapping):
            raise AutoqError(f"{source}: the autoq block must be a mapping (allowed keys: "
                             f"{', '.join(AUTOQ_KEYS)}), not {doc['autoq']!r:.60}")
        ext = dict(doc.get("autoq") or {})
        if isinstance(ext.get("dynamic_activations"), list):  # autoq 0.1's first form
            ext["activations"] = {k: DYNAMIC for k in ext.pop("dynamic_activations")}
        if set(ext) - set(AUTOQ_KEYS):
            raise AutoqError(f"{source}: the autoq block allows only {', '.join(AUTOQ_KEYS)}")
        if not isinstance(ext.get("graph", False), bool):
            raise AutoqError(f"{source}: autoq.graph must be true or false")
        return cls(dict(q), dict(ext.get("activations") or {}), str(name), ext.get("graph", False))

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"quantizers": {self.name: self.quantizer}}
        ext: dict[str, Any] = {}
        if self.activations:
            ext["activations"] = dict(self.activations)
        if self.graph:
            ext["graph"] = True
        if ext:
            doc["autoq"] = ext
        return doc

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Recipe":
        return cls.from_dict(yaml_io.load(path, "recipe"), f"recipe {path}")

    @classmethod
    def from_yaml(cls, text: str, source: str = "recipe") -> "Recipe":
        return cls.from_dict(yaml_io.parse(text, source), source)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def save(self, path: str | os.PathLike) -> None:
        """Write the recipe atomically."""
        write_atomic(path, self.to_yaml())

    # --- resolution ---------------------------------------------------------
    @property
    def defaults(self) -> dict[str, Any]:
        """Global settings under their per-module names."""
        return {GLOBAL_KEYS[k]: v for k, v in self.quantizer.items() if k in GLOBAL_KEYS}

    @property
    def overrides(self) -> dict[str, dict[str, Any]]:
        return self._overrides

    def match(self, name: str, keys: Mapping | None = None, patterns: list | None = None) -> str | None:
        """The key (of the overrides by default) that governs module ``name`` itself."""
        keys, patterns = (self._overrides, self._patterns) if keys is None else (keys, patterns)
        name = strip_module(name)
        if name in keys:
            return name
        for key, pattern in patterns:
            if pattern.fullmatch(name):
                return key
        return None

    def key_matches(self, key: str, name: str) -> bool:
        """Whether override ``key`` names module ``name`` itself (exactly, or as a regex)."""
        name = strip_module(name)
        return name == key or any(k == key and p.fullmatch(name) for k, p in self._patterns)

    def governing_key(self, name: str, keys: Mapping | None = None, patterns: list | None = None) -> str | None:
        """The key for ``name`` or, failing that, for its nearest parent."""
        parts = strip_module(name).split(".")
        for i in range(len(parts), 0, -1):
            key = self.match(".".join(parts[:i]), keys, patterns)
            if key is not None:
                return key
        return None

    def settings(self, name: str) -> dict[str, Any]:
        """The merged settings (per-module key names) for module ``name``."""
        merged = self.defaults
        key = self.governing_key(name)
        if key is not None:
            merged.update(self._overrides[key])
        return merged

    def activation_key(self, name: str) -> str | None:
        """The ``autoq.activations`` key that governs ``name``, or None."""
        return self.governing_key(name, self._acts, self._act_patterns)

    def is_dynamic(self, name: str) -> bool:
        key = self.activation_key(name)
        return key is not None and self._acts[key] == DYNAMIC
