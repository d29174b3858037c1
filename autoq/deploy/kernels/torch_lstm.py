"""torch's dynamic quantized LSTM and GRU (the only int8 paths for them): int8 or fp16
gate weights, gate inputs quantized per step, element-wise ops in float."""
from __future__ import annotations

import torch
from torch import nn
from torch.ao.nn.quantized.dynamic import GRU as QuantizedGRU
from torch.ao.nn.quantized.dynamic import LSTM as QuantizedLSTM
from torch.ao.nn.quantized.dynamic.modules.rnn import PackedParameter

from ...settings import DYNAMIC, INT_BITS
from ..registry import Deviation, Offer, register_kernel
from ..units import Unit, decode_param
from .common import (TorchEngineKernel, describe, engine, full_range_ok, int8_act_deviations,
                     qint8_weight, symmetric_weights)
from .torch_linear import ALL_MODES

GATES = ("fc_gate_x", "fc_gate_h")


class TorchLSTM(TorchEngineKernel):
    kinds = (nn.LSTM,)
    label = "lstm"
    quantized = QuantizedLSTM

    def __init__(self, engine_name: str):
        self.backend = engine_name
        self.choices = {"bits_weights": INT_BITS + ((16,) if engine_name == "fbgemm" else ()),
                        "bits_activations": (8,), "activations": (DYNAMIC,),
                        "mode": ALL_MODES if engine_name == "fbgemm" else ("SYMMETRIC",),
                        "per_channel_wts": (True, False), "clip_acts": ("NONE",)}

    def offer(self, unit: Unit) -> Offer | None:
        m = unit.module
        if not m.bias or m.proj_size:
            return None
        bits = {c.bits_weights for c in unit.gate_configs()}
        if bits <= set(INT_BITS):
            dtype = "int8"
            if self.backend == "onednn" and not symmetric_weights(unit):
                return None
        elif bits == {16} and self.backend == "fbgemm":
            dtype = "fp16"
        else:
            return None
        full = full_range_ok(self.backend)
        devs = []
        for name, cfg in unit.configs.items():
            if not name.endswith(GATES):
                if cfg.bits_activations is not None:
                    devs.append(Deviation(name, describe(cfg), "float32 activations",
                                          f"torch's quantized {self.label.upper()} computes element-wise ops in float"))
            elif dtype == "int8":
                devs += int8_act_deviations(name, cfg, DYNAMIC, full,
                                            f"torch's quantized {self.label.upper()} quantizes gate inputs per step")
            elif cfg.bits_activations is not None:
                devs.append(Deviation(name, describe(cfg), "float32 activations",
                                      f"fbgemm's fp16 {self.label.upper()} takes float32 activations"))
        scheme = f"{self.backend} dynamic quantized {self.label.upper()}, {dtype} gate weights"
        return Offer(self, scheme, devs, {"dtype": dtype, "reduce_range": not full})

    def runtime(self, module, tensors, meta, options):
        m = module
        int8 = options["dtype"] == "int8"
        q = self.quantized(m.input_size, m.hidden_size, m.num_layers, m.bias, m.batch_first,
                          m.dropout, m.bidirectional, dtype=torch.qint8 if int8 else torch.float16)

        def pack(pname: str, bias: torch.Tensor):
            if int8:
                return torch.ops.quantized.linear_prepack(qint8_weight(tensors, meta, pname), bias)
            return torch.ops.quantized.linear_prepack_fp16(decode_param(tensors, meta, pname), bias)

        cells = []
        with engine(self.backend):
            for layer in range(m.num_layers):
                for sfx in ("", "_reverse") if m.bidirectional else ("",):
                    b_ih = decode_param(tensors, meta, f"bias_ih_l{layer}{sfx}")
                    b_hh = decode_param(tensors, meta, f"bias_hh_l{layer}{sfx}")
                    p_ih = pack(f"weight_ih_l{layer}{sfx}", b_ih)
                    p_hh = pack(f"weight_hh_l{layer}{sfx}", b_hh)
                    if int8:
                        cell = torch.ops.quantized.make_quantized_cell_params_dynamic(
                            p_ih, p_hh, b_ih, b_hh, options["reduce_range"])
                    else:
                        cell = torch.ops.quantized.make_quantized_cell_params_fp16(p_ih, p_hh)
                    cells.append(PackedParameter(cell))
        q._all_weight_values = nn.ModuleList(cells)
        return q.train(False)


class TorchGRU(TorchLSTM):
    kinds = (nn.GRU,)
    label = "gru"
    quantized = QuantizedGRU


for _name in ("fbgemm", "onednn"):
    register_kernel(TorchLSTM(_name))
    register_kernel(TorchGRU(_name))
