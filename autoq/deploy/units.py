"""Deploy units: the modules of the float model that get replaced, each with the
plan entries it covers. A plan is made on the prepared model (torch RNNs modular); a
torch RNN that a registered kernel runs whole (nn.LSTM, nn.GRU: torch's quantized LSTM
and GRU) stays one unit covering its gate Linears and element-wise ops. Any other one
the plan quantizes (nn.RNN) is deployed modular: each gate Linear and op is a unit.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..errors import AutoqError
from ..quant.actquant import StaticFakeQuant, act_quantizer
from ..quant.config import QuantConfig
from ..quant.handlers import needs_act_stats
from ..quant.modules import set_module
from ..quant.plan import Plan
from ..quant.rnn import convert_rnns, twins
from . import packing
from .registry import all_kernels


@dataclass
class Unit:
    name: str
    module: nn.Module  # in the float model
    configs: dict[str, QuantConfig]  # covered plan names -> configs, in model order
    stats: dict[str, dict] = field(default_factory=dict)
    # stored parameter name -> (tensor, config, "weight" or "bias")
    params: dict[str, tuple[torch.Tensor, QuantConfig, str]] = field(default_factory=dict)
    acts: dict[str, QuantConfig] = field(default_factory=dict)  # entries with quantized activations

    @property
    def config(self) -> QuantConfig:
        """The unit's own config (an LSTM: its first gate's)."""
        return self.configs.get(self.name) or next(iter(self.configs.values()))

    @property
    def kind(self) -> str:
        return type(self.module).__name__

    def gate_configs(self) -> list[QuantConfig]:
        return [cfg for _, cfg, role in self.params.values() if role == "weight"]


def whole_rnns() -> tuple[type, ...]:
    """The torch RNN classes autoq covers that a registered kernel runs whole."""
    kinds = {k for kernel in all_kernels() for k in kernel.kinds}
    return tuple(c for c in twins() if c in kinds)


def _quantizes(module: nn.Module, cfg: QuantConfig) -> bool:
    """Whether a plan entry asks for quantized activations or parameters below float."""
    if cfg.bits_activations is not None:
        return True
    params = next(module.parameters(recurse=False), None) is not None
    return params and bool({cfg.bits_weights, cfg.bits_bias} - {None, 32})


def modular_rnns(model: nn.Module, plan: Plan) -> list[str]:
    """The torch RNNs in ``model`` that no kernel runs whole and ``plan`` quantizes: they
    are deployed modular, their gate Linears on Linear kernels."""
    kinds, whole = tuple(twins()), whole_rnns()
    quantized = [p for p, c in plan.configs.items() if _quantizes(plan.model.get_submodule(p), c)]
    return [n for n, m in model.named_modules() if isinstance(m, kinds) and not isinstance(m, whole)
            and any(p.startswith(f"{n}." if n else "") for p in quantized)]


def make_modular(model: nn.Module, names: list[str]) -> nn.Module:
    """``model`` with the torch RNNs at ``names`` replaced (in place) by their modular twins."""
    for name in names:
        if not name:
            return convert_rnns(model)
        set_module(model, name, convert_rnns(model.get_submodule(name)))
    return model


def _rnn_params(name: str, lstm: nn.Module, configs: dict[str, QuantConfig]):
    """A whole torch RNN's parameter -> (tensor, config of its modular gate Linear, role)."""
    out = {}
    for layer in range(lstm.num_layers):
        for sfx in ("", "_reverse") if lstm.bidirectional else ("",):
            cell = f"{name}.cells{sfx}.{layer}"
            for gate, src in (("fc_gate_x", "ih"), ("fc_gate_h", "hh")):
                cfg = configs.get(f"{cell}.{gate}", QuantConfig(None, None))
                for role in ("weight", "bias"):
                    p = getattr(lstm, f"{role}_{src}_l{layer}{sfx}", None)
                    if p is not None:
                        out[f"{role}_{src}_l{layer}{sfx}"] = (p, cfg, role)
    return out


def units_of(model: nn.Module, plan: Plan, stats: dict | None = None) -> list[Unit]:
    """The deploy units of ``model`` (float, not prepared) under ``plan`` (of its prepared copy)."""
    modules = dict(model.named_modules())
    whole = whole_rnns()
    lstms = [n for n, m in modules.items() if isinstance(m, whole)]
    units: dict[str, Unit] = {}
    exposed = plan.exposed_ops()  # no kernel runs them: they stay the torch code they were
    for pname, cfg in plan.configs.items():
        if pname in exposed:
            continue
        owner = next((n for n in lstms if pname.startswith(n + ".")), pname)
        if owner not in modules:
            raise AutoqError(f"the plan's module {pname!r} is not in the float model: "
                             f"deploy needs the model the recipe was planned on")
        unit = units.get(owner)
        if unit is None:
            unit = units[owner] = Unit(owner, modules[owner], {})
        unit.configs[pname] = cfg
        if stats and pname in stats:
            unit.stats[pname] = stats[pname]
    for unit in units.values():
        m = unit.module
        if isinstance(m, whole):  # gates and element-wise ops all quantize activations
            unit.params = _rnn_params(unit.name, m, unit.configs)
            unit.acts = {n: c for n, c in unit.configs.items() if c.bits_activations is not None}
        else:
            cfg = unit.configs[unit.name]
            unit.params = {n: (p, cfg, "weight" if n == "weight" else "bias")
                           for n, p in m.named_parameters(recurse=False)}
            if needs_act_stats(m) and cfg.bits_activations is not None:
                unit.acts = {unit.name: cfg}
    return [u for u in units.values() if u.acts or any(
        (c.bits_weights if r == "weight" else c.bits_bias) not in (None, 32)
        for _, c, r in u.params.values())]


def static_act(cfg: QuantConfig, entry: dict | None, tensor: str) -> dict | None:
    """Fixed activation qparams of one tensor ("input" or "output") from the statistics,
    as the engine computes them; None when that tensor is not statically quantized."""
    if cfg.dynamic or cfg.bits_activations in (None, 16) or entry is None:
        return None
    stats = entry["inputs"].get(0) if tensor == "input" else entry.get("output")
    if stats is None:
        return None
    q = act_quantizer(cfg, stats)
    assert isinstance(q, StaticFakeQuant)
    return {"step": q.step, "zero_point": q.zero_point, "qmin": q.qmin, "qmax": q.qmax,
            "bits": q.bits, "mode": q.mode.value}


def encode_unit(unit: Unit) -> tuple[dict[str, torch.Tensor], dict]:
    """Stored tensors (keys ``param.field``) and metadata of a unit, kernel-independent."""
    tensors, params = {}, {}
    for pname, (t, cfg, role) in unit.params.items():
        bits = cfg.bits_weights if role == "weight" else cfg.bits_bias
        per_channel = cfg.per_channel_wts and role == "weight"
        stored, meta = packing.encode(t, bits, cfg.mode_weights, per_channel)
        tensors.update({f"{pname}.{k}": v for k, v in stored.items()})
        params[pname] = meta
    meta = {"params": params}
    cfg = unit.configs.get(unit.name)
    if cfg is not None and needs_act_stats(unit.module) and unit.params:
        entry = unit.stats.get(unit.name)
        act = {t: static_act(cfg, entry, t) for t in ("input", "output")}
        if any(act.values()):
            meta["act"] = act
    return tensors, meta


def param_tensors(tensors: dict[str, torch.Tensor], pname: str) -> dict[str, torch.Tensor]:
    prefix = pname + "."
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def decode_param(tensors: dict, meta: dict, pname: str) -> torch.Tensor:
    return packing.decode(param_tensors(tensors, pname), meta["params"][pname])
