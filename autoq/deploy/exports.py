"""The recipe in other tools' words, next to the deployed model: Distiller's YAML
(the recipe itself), torchao's FQN-to-config mapping, and a plain per-layer table."""
from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from torch import nn

from ..io import write_atomic
from ..quant.config import QuantConfig
from ..quant.plan import Plan
from ..settings import ClipMode, Mode, activation_choice
from .build import Deployed
from .kernels.torchao_linear import torchao

GATE = re.compile(r"(?P<lstm>.+)\.cells(?P<sfx>_reverse)?\.(?P<layer>\d+)\.fc_gate_(?P<g>[xh])$")


def torchao_config(module: nn.Module, cfg: QuantConfig):
    """torchao's config for one module's QuantConfig (None: keep float, or no equivalent)."""
    from torchao.quantization.granularity import PerAxis
    q, PerRow, PerTensor = torchao()
    wb, ab = cfg.bits_weights, cfg.bits_activations
    if wb is None or wb == 16 or not isinstance(module, (nn.Linear, nn.Embedding)):
        return None
    mapping = (q.MappingType.SYMMETRIC if cfg.mode_weights is Mode.SYMMETRIC
               else q.MappingType.ASYMMETRIC)
    dtype = getattr(torch, f"int{wb}")
    if isinstance(module, nn.Embedding) or ab is None:
        if wb == 8 and mapping == q.MappingType.SYMMETRIC and isinstance(module, nn.Linear):
            return q.Int8WeightOnlyConfig(granularity=PerRow() if cfg.per_channel_wts else PerTensor())
        return q.IntxWeightOnlyConfig(weight_dtype=dtype, granularity=PerAxis(0), mapping_type=mapping)
    if wb == 8 and mapping == q.MappingType.SYMMETRIC:
        return q.Int8DynamicActivationInt8WeightConfig(
            granularity=[PerRow(), PerRow() if cfg.per_channel_wts else PerTensor()])
    return q.Int8DynamicActivationIntxWeightConfig(weight_dtype=dtype, weight_granularity=PerAxis(0),
                                                   weight_mapping_type=mapping)


def torchao_mapping(model: nn.Module, plan: Plan) -> dict:
    """``FqnToConfig`` as JSON (torchao's own ``config_to_dict``) for the float ``model``."""
    from torchao.core.config import config_to_dict
    modules = dict(model.named_modules())
    fqn, notes = {}, {}
    for name, cfg in plan.configs.items():
        module = modules.get(name)
        if module is None:  # inside a torch RNN: torchao has no RNN workflow
            owner = name
            while owner not in modules:
                owner = owner.rpartition(".")[0]
            notes[name] = f"inside an nn.{type(modules[owner]).__name__}: no torchao equivalent"
            continue
        if not isinstance(module, (nn.Linear, nn.Embedding)):
            if cfg.bits_activations is not None:
                notes[name] = f"{type(module).__name__}: torchao quantizes weights, not this op"
            continue
        config = torchao_config(module, cfg)
        fqn[name] = None if config is None else config_to_dict(config)
        if cfg.bits_weights == 16:
            notes[name] = "fp16: module.half(), no torchao config"
        elif cfg.bits_activations is not None and not cfg.dynamic and config is not None:
            notes[name] = "static activations asked: mapped to torchao's dynamic workflow"
    return {"type": "FqnToConfig", "fqn_to_config": fqn, "notes": notes}


def _gate_params(name: str) -> list[str] | None:
    m = GATE.match(name)
    if m is None:
        return None
    src = "ih" if m["g"] == "x" else "hh"
    return [f"{m['lstm']}.{r}_{src}_l{m['layer']}{m['sfx'] or ''}" for r in ("weight", "bias")]


def layer_table(plan: Plan, deployed: Deployed) -> list[dict]:
    """One row per quantizable module: bits, mode, clipping, kernel and stored bytes."""
    units = deployed.manifest["units"]
    owner = {n: u for u, e in units.items() for n in e["covers"]}
    sizes: dict[str, int] = {}  # parameter -> bytes of its stored tensors (record fields or float)
    for key, t in deployed.tensors.items():
        stem = key if key in deployed.manifest["float_tensors"] else key.rsplit(".", 1)[0]
        sizes[stem] = sizes.get(stem, 0) + t.numel() * t.element_size()
    rows = []
    for name, cfg in plan.configs.items():
        unit = owner.get(name)
        entry = units.get(unit, {}) if unit else {}
        if "same_as" in entry:
            entry = units[entry["same_as"]]
        params = [f"{name}.weight", f"{name}.bias"]
        if params[0] not in sizes:  # a gate of a whole RNN: its parameters are the RNN's
            params = _gate_params(name) or params
        acts = cfg.bits_activations if entry.get("kind") != "Embedding" else None  # lookups only
        clip = cfg.clip_acts.value + (f" {cfg.clip_n_stds}" if cfg.clip_acts is ClipMode.N_STD else "")
        rows.append({
            "module": name, "unit": unit, "kernel": entry.get("kernel", "float"),
            "bits_weights": cfg.bits_weights, "bits_activations": acts, "bits_bias": cfg.bits_bias,
            "activations": None if acts is None else activation_choice(cfg.dynamic),
            "mode": cfg.mode_weights.value if cfg.mode_weights == cfg.mode_activations
            else {"weights": cfg.mode_weights.value, "activations": cfg.mode_activations.value},
            "per_channel": cfg.per_channel_wts, "clipping": clip,
            "bytes": sum(sizes.get(p, 0) for p in params)})
    return rows


def write_exports(out: str | Path, float_model: nn.Module, deployed: Deployed) -> dict[str, Path]:
    """``recipe.yaml``, ``torchao_config.json`` and ``layers.json`` in ``out``, of the plan
    ``deployed`` was built by."""
    out = Path(out)
    plan = deployed.plan
    paths = {"recipe": out / "recipe.yaml", "torchao": out / "torchao_config.json",
             "layers": out / "layers.json"}
    plan.recipe.save(paths["recipe"])
    if torchao() is not None:
        write_atomic(paths["torchao"], json.dumps(torchao_mapping(float_model, plan), indent=1) + "\n")
    else:
        del paths["torchao"]
    write_atomic(paths["layers"], json.dumps(layer_table(plan, deployed), indent=1) + "\n")
    return paths
