"""autoq's quantization engine: Distiller's post-training linear quantization,
with static or dynamic activations, on CPU and CUDA. A model is prepared (``autoq.prepare``)
and a recipe planned on it (``make_plan``) before a plan is applied or measured."""
from ..settings import ClipMode, Mode
from .apply import calibration_key, collect_stats, quantize_plan
from .config import QuantConfig
from .fold import FoldedBatchNorm, FoldWarning
from .handlers import register_handler
from .elman import ModularElmanRNN
from .gru import ModularGRU
from .lstm import ModularLSTM
from .modules import set_module
from .ops import BatchMatmul, Concat, EltwiseAdd, EltwiseMult, Matmul
from .plan import Plan, make_plan
from .rnn import convert_rnns
from .size import SizeReport, size_report

__all__ = ["BatchMatmul", "ClipMode", "Concat", "EltwiseAdd", "EltwiseMult", "FoldWarning",
           "FoldedBatchNorm", "Matmul", "Mode",
           "ModularElmanRNN", "ModularGRU", "ModularLSTM", "Plan", "QuantConfig", "SizeReport",
           "calibration_key", "collect_stats", "convert_rnns", "make_plan", "quantize_plan",
           "register_handler", "set_module", "size_report"]
