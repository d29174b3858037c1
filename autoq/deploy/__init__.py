"""Deployment: a recipe turned into a model on real low-precision kernels, saved as
safetensors plus a manifest, loaded back without the search, and measured.

    import autoq
    from autoq.deploy import build, save_deployed, load_deployed, deploy
    plan = autoq.plan(model, recipe, batch, graph=recipe.graph)  # prepared once, checked once
    deployed = build(model, plan, stats, sample=batch)   # kernels picked by measurement
    save_deployed(deployed, "out/")
    model = load_deployed("out/", task)                    # or a model factory

Backends are kernels registered per module kind (``register_kernel``): torch's int8
(fbgemm, onednn) for Linear, LSTM and GRU (an nn.RNN runs modular, its gates on Linear
kernels) and for Conv1d/Conv2d (static activations), torch's quantized Embedding,
torchao's int8 workflows, fp16, and ``packed`` (float compute on weights unpacked at load).
"""
from .artifact import load_deployed, read_manifest, save_deployed
from .build import Deployed, build, capture_inputs
from .choices import deployable_choices
from .registry import Deviation, Kernel, Offer, backend_names, register_kernel
from .report import DeployReport
from .run import DeployOptions, deploy

__all__ = ["DeployOptions", "DeployReport", "Deployed", "Deviation", "Kernel", "Offer", "backend_names", "build",
           "capture_inputs", "deploy", "deployable_choices", "load_deployed", "read_manifest",
           "register_kernel", "save_deployed"]
