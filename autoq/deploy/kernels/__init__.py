"""Built-in kernels; importing this package registers them (order = preference on ties)."""
from . import (torch_linear, torch_conv, torch_lstm, torch_embedding, torchao_linear, half,  # noqa: F401
               packed)
