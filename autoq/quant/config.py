"""Per-module quantization settings: Distiller's knobs as one frozen dataclass."""
from __future__ import annotations

import math

from dataclasses import dataclass, replace
from enum import Enum
from typing import Any, Mapping

from ..errors import AutoqError
from ..settings import ALLOWED_BITS, FP16, INT_BITS, KEYS, ClipMode, Mode


@dataclass(frozen=True)
class QuantConfig:
    """How one module is quantized. ``None`` bits keep that tensor in float."""

    bits_weights: int | None = 8
    bits_activations: int | None = 8
    bits_bias: int | None = None  # None: float bias (Distiller: int32 at accumulator scale)
    bits_accum: int = 32
    mode_weights: Mode = Mode.SYMMETRIC
    mode_activations: Mode = Mode.SYMMETRIC
    per_channel_wts: bool = False
    clip_acts: ClipMode = ClipMode.NONE
    clip_n_stds: float | None = None
    dynamic: bool = False  # activation ranges per batch at run time instead of from statistics

    @property
    def is_float(self) -> bool:
        return self.bits_weights is None and self.bits_activations is None and self.bits_bias is None


def _bits(where: str, key: str, value: Any, extra: tuple = ()) -> int | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)
                         and (value in INT_BITS or value == FP16 or value in extra)):
        return value
    allowed = ALLOWED_BITS + (f", {', '.join(map(str, extra))}" if extra else "")
    raise AutoqError(f"{where}: {key} = {value!r} is not allowed (allowed: {allowed})")


def _enum(where: str, key: str, value: Any, enum: type[Enum]) -> Enum:
    try:
        return enum(str(value).upper()) if isinstance(value, str) else enum(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise AutoqError(f"{where}: {key} = {value!r} is not allowed (allowed: {allowed})") from None


def build_config(settings: Mapping[str, Any], where: str, dynamic: bool = False,
                 spelling: Mapping[str, str] | None = None) -> QuantConfig:
    """A validated QuantConfig from recipe settings (already merged over defaults).
    ``spelling``: how messages name a key where the recipe spells it otherwise."""
    def say(key: str) -> str:
        return (spelling or {}).get(key, key)

    unknown = set(settings) - set(KEYS)
    if unknown:
        raise AutoqError(f"{where}: unknown key(s) {sorted(unknown)} (allowed: {', '.join(KEYS)})")
    mode = settings.get("mode", Mode.SYMMETRIC.value)
    if isinstance(mode, Mapping):
        extra = set(mode) - {"activations", "weights"}
        if extra:
            raise AutoqError(f"{where}: {say('mode')} has unknown key(s) {sorted(extra)} "
                             f"(allowed: activations, weights)")
        mode_a = mode.get("activations", Mode.SYMMETRIC.value)
        mode_w = mode.get("weights", Mode.SYMMETRIC.value)
    else:
        mode_a = mode_w = mode
    clip = _enum(where, say("clip_acts"), settings.get("clip_acts", "NONE"), ClipMode)
    n_stds = settings.get("clip_n_stds")
    if clip is ClipMode.N_STD:
        if not isinstance(n_stds, (int, float)) or isinstance(n_stds, bool) or not 0 < n_stds < math.inf:
            raise AutoqError(f"{where}: {say('clip_acts')} N_STD needs {say('clip_n_stds')}, a "
                             f"positive finite number (got {n_stds!r})")
    per_channel = settings.get("per_channel_wts", False)
    if not isinstance(per_channel, bool):
        raise AutoqError(f"{where}: {say('per_channel_wts')} = {per_channel!r} is not allowed "
                         f"(allowed: true, false)")
    accum = settings.get("bits_accum", 32)
    if accum != 32:
        raise AutoqError(f"{where}: {say('bits_accum')} = {accum!r} is not allowed (allowed: 32)")
    cfg = QuantConfig(
        bits_weights=_bits(where, say("bits_weights"), settings.get("bits_weights", 8)),
        bits_activations=_bits(where, say("bits_activations"), settings.get("bits_activations", 8)),
        bits_bias=_bits(where, say("bits_bias"), settings.get("bits_bias"), extra=(32,)),
        bits_accum=32,
        mode_weights=_enum(where, say("mode"), mode_w, Mode),
        mode_activations=_enum(where, say("mode"), mode_a, Mode),
        per_channel_wts=per_channel,
        clip_acts=clip,
        clip_n_stds=float(n_stds) if n_stds is not None else None,
        dynamic=dynamic,
    )
    if cfg.bits_activations is None:  # float activations: their settings act on nothing
        cfg = replace(cfg, mode_activations=cfg.mode_weights, clip_acts=ClipMode.NONE,
                      clip_n_stds=None, dynamic=False)
    return cfg
