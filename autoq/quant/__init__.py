"""autoq's quantization engine: Distiller's post-training linear quantization,
with static or dynamic activations, on CPU and CUDA."""
from .apply import calibration_key, collect_stats, is_prepared, prepare, quantize
from .config import ClipMode, Mode, QuantConfig
from .handlers import register_handler
from .gru import ModularGRU
from .lstm import ModularLSTM
from .ops import BatchMatmul, Concat, EltwiseAdd, EltwiseMult, Matmul
from .plan import Plan, make_plan
from .rnn import convert_rnns
from .size import SizeReport, size_report

__all__ = ["BatchMatmul", "ClipMode", "Concat", "EltwiseAdd", "EltwiseMult", "Matmul", "Mode",
           "ModularGRU", "ModularLSTM", "Plan", "QuantConfig", "SizeReport", "calibration_key",
           "collect_stats", "convert_rnns", "is_prepared", "make_plan", "prepare", "quantize", "register_handler",
           "size_report"]
