"""Build: a recipe turned into a model running on low-precision kernels.

Every unit (a module the recipe quantizes; an nn.LSTM with all its gates) is encoded
once on the engine's grid, offered to the kernels registered for its kind on the
device, and given the best one (see select). What a kernel does not honour is
reported in ``fallbacks``. Conv+BatchNorm pairs the plan's model folded are folded here too.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from ..errors import AutoqError
from ..quant import Plan, set_module
from ..quant.fold import fold_as, folds
from .measure import alternate, run_batch, to_device
from .packing import stored_bytes
from .registry import Deviation, Offer, kernels_for
from .select import choose
from .kernels.common import describe
from .units import Unit, encode_unit, make_modular, modular_rnns, units_of

FORMAT, VERSION = "autoq.deploy", 1
SLACK = 0.01  # a kernel costing less than this share of the model's time counts as free


@dataclass
class Deployed:
    model: nn.Module
    manifest: dict
    tensors: dict[str, torch.Tensor]  # everything saved: unit records and float tensors
    plan: Plan | None = None

    @property
    def fallbacks(self) -> list[dict]:
        return self.manifest["fallbacks"]


def capture_inputs(model: nn.Module, names: list[str], batch: Any) -> dict[str, tuple]:
    """Each named module's (args, kwargs) at its first call on ``batch``."""
    found: dict[str, tuple] = {}

    def hook(name):
        def grab(module, args, kwargs):
            found.setdefault(name, (args, kwargs))
        return grab

    handles = [model.get_submodule(n).register_forward_pre_hook(hook(n), with_kwargs=True)
               for n in names]
    try:
        with torch.no_grad():
            run_batch(model, batch)
    finally:
        for h in handles:
            h.remove()
    return found


def dedupe(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors to save (contiguous, each storage once) and aliases name -> saved name."""
    out, aliases, seen = {}, {}, {}
    for name, t in state.items():
        key = (t.data_ptr(), tuple(t.shape), t.stride(), t.dtype) if t.numel() else None
        if key is not None and key in seen:
            aliases[name] = seen[key]
            continue
        if key is not None:
            seen[key] = name
        out[name] = t.detach().cpu().contiguous()
    return out, aliases


def _share_key(unit: Unit):
    return tuple((pname, id(t), cfg, role) for pname, (t, cfg, role) in unit.params.items())


def _note_fallback(offer: Offer, offers: list[Offer], timing: dict | None,
                   refusals: dict[str, list[str]]) -> None:
    """Say why a float fallback won: faster than the low-precision kernels offered, or
    what the kernels for its kind could not honour (``refusals``: reason -> kernels)."""
    if offer.kernel.low_precision:
        return
    rivals = [o.kernel.name for o in offers if o.kernel.low_precision and o.tier <= offer.tier]
    if rivals and timing:
        offer.deviations = [replace(d, why=f"faster than {', '.join(rivals)} here (measured "
                                         f"{timing})") if d.exact else d for d in offer.deviations]
    elif refusals:
        why = "; ".join(f"{', '.join(names)}: {reason}" for reason, names in refusals.items())
        offer.deviations = [replace(d, why=why) for d in offer.deviations]


def _timing_inputs(model, units, sample, threads, device) -> tuple[dict, dict]:
    """Each unit's input on ``sample`` and, per thread count, how much slower than the best
    a kernel may be and still count as as fast (a share of the whole model's time)."""
    if sample is None:
        return {}, {}
    inputs = capture_inputs(model, [u.name for u in units], sample)
    slack = {}
    for t in threads:
        whole = alternate({"model": lambda: run_batch(model, sample)}, t, 3, device, 1)
        slack[t] = SLACK * whole["model"]
    return inputs, slack


def _graph_op_fallbacks(plan) -> list[dict]:
    """The ops graph mode exposed with quantized activations: no kernel runs them so."""
    return [Deviation(name, describe(cfg), "float32 activations",
                      "an op graph mode exposed; the deployed model keeps it as the torch code "
                      "it was traced from").as_dict()
            for name, cfg in plan.exposed_ops().items() if cfg.bits_activations is not None]


def _place(unit: Unit, inputs, slack: dict, device: str, allowed: set | None,
           backends: list[str] | None, threads, repeats: int):
    """The best kernel's runtime for ``unit``, its stored tensors, its manifest entry and
    what it does not honour."""
    stored, meta = encode_unit(unit)
    kernels = kernels_for(unit.module, device, allowed)
    offers = [o for k in kernels if (o := k.offer(unit))]
    refusals: dict[str, list[str]] = {}
    for k in kernels:
        if (why := k.why_not(unit)) is not None:
            refusals.setdefault(why, []).append(k.name)
    if not offers:
        raise AutoqError(f"deploy: no kernel of backends {backends} can run {unit.name!r} "
                         f"({unit.kind}) on {device}")

    def make(offer: Offer) -> nn.Module:
        return offer.kernel.runtime(unit.module, stored, meta, offer.options)

    offer, runtime, timing = choose(offers, make, inputs, meta["params"], list(threads), repeats,
                                    device, slack)
    _note_fallback(offer, offers, timing, refusals)
    entry = {"kind": unit.kind, "backend": offer.kernel.backend, "kernel": offer.kernel.name,
             "scheme": offer.scheme, "options": offer.options, "covers": list(unit.configs),
             "params": meta["params"], "act": meta.get("act"), "bytes": stored_bytes(stored),
             "candidates_s": timing}
    return runtime, stored, entry, [d.as_dict() for d in offer.deviations]


def build(model: nn.Module, plan: Plan, stats: dict | None = None, sample: Any = None,
          device: str = "cpu", backends: list[str] | None = None, threads: list[int] = (1,),
          repeats: int = 5) -> Deployed:
    """A deployed copy of ``model`` (float, eval) quantized by ``plan`` (made on ``model``
    prepared: ``autoq.plan``).

    ``stats``: calibration statistics (needed for static activations); ``sample``: one
    batch whose inputs time the candidate kernels (None: no timing, first candidate);
    ``backends``: allowed backend names (None: all registered for the device); the
    ``packed`` fallback is always allowed.
    """
    allowed = None if backends is None else set(backends) | {"packed"}
    plan.check_stats(stats)
    model = copy.deepcopy(model).eval().to(device)
    folded = folds(plan.model)  # the Conv+BatchNorm pairs the plan's model has folded
    model = fold_as(model, folded)
    modular = modular_rnns(model, plan)  # no kernel runs them whole: their gates are units
    model = make_modular(model, modular)
    sample = to_device(sample, device)
    float_state = model.state_dict()
    units = units_of(model, plan, stats)
    inputs, slack = _timing_inputs(model, units, sample, threads, device)
    tensors, entries, shared = {}, {}, {}
    fallbacks = _graph_op_fallbacks(plan)
    for unit in units:
        key = _share_key(unit)
        if unit.params and key in shared:  # same weights, same configs: one module, stored once
            first = shared[key]
            set_module(model, unit.name, model.get_submodule(first))
            entries[unit.name] = {"same_as": first, "covers": list(unit.configs)}
            continue
        runtime, stored, entries[unit.name], deviations = _place(
            unit, inputs.get(unit.name), slack, device, allowed, backends, threads, repeats)
        set_module(model, unit.name, runtime)
        shared[key] = unit.name
        tensors.update({f"{unit.name}.{k}": v for k, v in stored.items()})
        fallbacks += deviations
    replaced = tuple(n + "." for n, e in entries.items() if e.get("params") or "same_as" in e)
    rest, aliases = dedupe({k: v for k, v in float_state.items() if not k.startswith(replaced)})
    tensors.update(rest)
    manifest = {"format": FORMAT, "version": VERSION, "device": device, "torch": torch.__version__,
                "units": entries, "float_tensors": sorted(rest), "aliases": aliases,
                "modular": modular, "folded": folded, "fallbacks": fallbacks}
    return Deployed(model, manifest, tensors, plan)
