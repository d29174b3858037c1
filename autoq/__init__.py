"""autoq: automated mixed-precision quantization search for PyTorch models."""
from .errors import AutoqError
from .quant import collect_stats, prepare, quantize, size_report
from .recipe import Recipe

__version__ = "0.1.0"
__all__ = ["AutoqError", "Recipe", "collect_stats", "prepare", "quantize", "size_report"]
