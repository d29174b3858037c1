"""The deployed model on disk: ``model.safetensors`` (packed unit records and the float
tensors) plus ``manifest.json`` (per unit: kernel, scheme, bits, shapes), and the
loader that rebuilds it without the recipe, the statistics or the search."""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Callable

import safetensors.torch
from torch import nn

from ..errors import AutoqError
from ..io import write_atomic
from ..quant import set_module
from ..quant.fold import fold_as
from ..tasks import Task
from .build import FORMAT, VERSION, Deployed
from .registry import kernel_named
from .units import make_modular, param_tensors

MODEL, MANIFEST = "model.safetensors", "manifest.json"


def save_deployed(deployed: Deployed, out: str | os.PathLike) -> Path:
    """Write ``out/model.safetensors`` and ``out/manifest.json`` atomically; returns ``out``."""
    out = Path(out)
    write_atomic(out / MODEL, safetensors.torch.save(deployed.tensors))
    write_atomic(out / MANIFEST, json.dumps(deployed.manifest, indent=1) + "\n")
    return out


def read_manifest(path: str | os.PathLike) -> dict:
    path = Path(path)
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise AutoqError(f"{path}: not a deployed model ({MANIFEST}: {e})") from None
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise AutoqError(f"{path}: {MANIFEST} is not {FORMAT} version {VERSION}")
    return manifest


def load_deployed(path: str | os.PathLike, task_or_model_factory: Task | Callable[[], nn.Module],
                  device: str = "cpu") -> nn.Module:
    """The deployed model saved in ``path``, in eval mode.

    ``task_or_model_factory`` gives the float architecture (a Task's ``build_model`` or
    any callable returning the float model); its weights are all replaced by the saved ones.
    A unit whose kernel is not available here runs as packed float, with a warning.
    """
    path = Path(path)
    manifest = read_manifest(path)
    factory = (task_or_model_factory.build_model if isinstance(task_or_model_factory, Task)
               else task_or_model_factory)
    model = make_modular(factory().eval(), manifest.get("modular", []))  # as build made them
    model = fold_as(model, manifest.get("folded", {}))
    tensors = safetensors.torch.load_file(path / MODEL)
    state = {k: tensors[k] for k in manifest["float_tensors"]}
    state.update({k: tensors[v] for k, v in manifest["aliases"].items()})
    units = manifest["units"]
    owned = tuple(n + "." for n, e in units.items() if e.get("params") or "same_as" in e)
    result = model.load_state_dict(state, strict=False)
    stray = [k for k in result.missing_keys if not k.startswith(owned)]
    if result.unexpected_keys or stray:
        raise AutoqError(f"{path}: the model from the factory does not match the deployed one "
                         f"(unexpected {result.unexpected_keys[:3]}, missing {stray[:3]})")
    built: dict[str, nn.Module] = {}
    for name, entry in units.items():
        if "same_as" in entry:
            built[name] = built[entry["same_as"]]
        else:
            kernel = kernel_named(entry["kernel"])
            if kernel is None or not kernel.available():
                warnings.warn(f"{name}: kernel {entry['kernel']} is not available here; "
                              f"running it as packed float")
                kernel = kernel_named("packed:float")
            unit_tensors = param_tensors(tensors, name)
            meta = {"params": entry["params"], "act": entry.get("act")}
            built[name] = kernel.runtime(model.get_submodule(name), unit_tensors, meta, entry["options"])
        set_module(model, name, built[name])
    return model.to(device).eval() if device != "cpu" else model.eval()
