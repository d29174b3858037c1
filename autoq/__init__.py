"""autoq: automated mixed-precision quantization search for PyTorch models."""
from .errors import AutoqError
from .planning import is_prepared, plan, prepare, quantize
from .quant import Plan, collect_stats, quantize_plan, size_report
from .recipe import Recipe

__version__ = "0.1.0"
__all__ = ["AutoqError", "Plan", "Recipe", "collect_stats", "is_prepared", "plan", "prepare",
           "quantize", "quantize_plan", "size_report"]
