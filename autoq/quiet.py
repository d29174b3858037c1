"""torchao talks when imported: it logs the CUDA extensions it cannot load and
torch.compile's deprecations. transformers imports it too when it loads a model."""
from __future__ import annotations

import contextlib
import logging
from functools import lru_cache

NOISY = ("torchao", "torch.utils._pytree")


@contextlib.contextmanager
def torchao_imports():
    """Silence torchao's import-time logging for the duration."""
    loggers = [logging.getLogger(name) for name in NOISY]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


@lru_cache(maxsize=None)
def torchao():
    """``torchao.quantization``, imported once and quietly (None if torchao is absent)."""
    try:
        with torchao_imports():
            import torchao.quantization as q
    except ImportError:
        return None
    return q
