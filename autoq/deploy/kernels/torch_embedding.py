"""torch's quantized Embedding: rows of quint8 (5..8 bits) or quint4x2 (2..4 bits) with a
float scale and offset per row; lookups dequantize only the rows they read."""
from __future__ import annotations

import torch
from torch import nn
from torch.ao.nn.quantized import Embedding as QuantizedEmbedding

from ...settings import INT_BITS, Mode
from ...quant.numerics import qrange
from ..packing import integers
from ..registry import Kernel, Offer, register_kernel
from ..units import Unit, param_tensors
from .common import engine
from .torch_linear import ALL_MODES


@register_kernel
class TorchEmbedding(Kernel):
    backend = "fbgemm"
    kinds = (nn.Embedding,)
    choices = {"bits_weights": INT_BITS, "mode": ALL_MODES, "per_channel_wts": (True, False)}

    @property
    def name(self) -> str:
        return "fbgemm:embedding"

    def offer(self, unit: Unit) -> Offer | None:
        m, bits = unit.module, unit.config.bits_weights
        if bits not in INT_BITS or m.max_norm is not None or m.sparse:
            return None
        if bits <= 4 and m.embedding_dim % 2:
            return None  # quint4x2 packs two values a byte
        dtype = "quint4x2" if bits <= 4 else "quint8"
        return Offer(self, f"quantized embedding, {dtype} rows ({bits}-bit values)", [],
                     {"dtype": dtype})

    def runtime(self, module, tensors, meta, options):
        p = meta["params"]["weight"]
        q, scale, zp = integers(param_tensors(tensors, "weight"), p)
        qmin, _ = qrange(p["bits"], Mode(p["mode"]))
        rows = q.shape[0]
        scale = scale.expand(rows).contiguous()
        offset = (zp - qmin).expand(rows).float()  # rows hold q - qmin, offset zp - qmin
        dtype = torch.quint4x2 if options["dtype"] == "quint4x2" else torch.quint8
        with engine(torch.backends.quantized.engine):
            w = torch.quantize_per_channel(((q - qmin).float() - offset[:, None]) * scale[:, None],
                                           scale, offset, 0, dtype)
            e = QuantizedEmbedding(module.num_embeddings, module.embedding_dim,
                                   padding_idx=module.padding_idx, dtype=dtype)
            e.set_weight(w)
        return e
