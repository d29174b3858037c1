"""The settings vocabulary recipes, the engine, search spaces and deploy share: keys,
modes, bit widths and knob names, spelled once here."""
from __future__ import annotations

from enum import Enum
from typing import Any


class Mode(str, Enum):
    SYMMETRIC = "SYMMETRIC"
    ASYMMETRIC_UNSIGNED = "ASYMMETRIC_UNSIGNED"
    ASYMMETRIC_SIGNED = "ASYMMETRIC_SIGNED"


class ClipMode(str, Enum):
    NONE = "NONE"
    AVG = "AVG"
    N_STD = "N_STD"
    GAUSS = "GAUSS"
    LAPLACE = "LAPLACE"


INT_BITS = tuple(range(2, 9))
FP16 = 16
ALLOWED_BITS = "2..8, 16 (fp16) or null (float)"

# Keys a recipe may set, globally or per module. Distiller spells the global weight
# width `bits_parameters` and the per-module one `bits_weights`.
KEYS = ("bits_weights", "bits_activations", "bits_bias", "bits_accum", "mode",
        "per_channel_wts", "clip_acts", "clip_n_stds")

# Activation ranges: from calibration statistics, or from each batch at run time.
STATIC, DYNAMIC = "static", "dynamic"
ACTIVATIONS = (STATIC, DYNAMIC)

# What a search space's groups tune and a backend's kernels constrain.
KNOBS = ("bits_weights", "bits_activations", "mode", "clip_acts", "per_channel_wts", "activations")


def activation_choice(dynamic: bool) -> str:
    """The ``activations`` choice a config's ``dynamic`` flag stands for."""
    return DYNAMIC if dynamic else STATIC


def mode_label(mode: Any) -> Any:
    """A choice Optuna stores as it is: a mode mapping as ``weights=W,activations=A``."""
    return ",".join(f"{k}={v}" for k, v in mode.items()) if isinstance(mode, dict) else mode


def mode_value(label: Any) -> Any:
    """The recipe's mode for a choice (``mode_label`` undone)."""
    if isinstance(label, str) and "=" in label:
        return dict(part.split("=", 1) for part in label.split(","))
    return label
