"""A user's own task, as the README shows: loaded by the CLI as plugin_task:make_task."""
import math

import torch

from autoq.tasks import Score, Task
from conftest import TinyNet


class AgreementTask(Task):
    """TinyNet on random tokens; the metric is agreement with the float model's argmax."""

    name, metric_name = "tiny-agreement", "agreement"

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.data = {"search": torch.randint(0, 50, (32, 7), generator=g),
                     "confirm": torch.randint(0, 50, (32, 7), generator=g)}

    def build_model(self):
        torch.manual_seed(0)
        return TinyNet().eval()

    def calibration_batches(self):
        return [(self.data["search"][:8],), (self.data["search"][8:16],)]

    def evaluate(self, model, split="confirm", fraction=1.0, device="cpu"):
        x = self.data[split][: math.ceil(fraction * 32)]
        with torch.no_grad():
            ref = self.build_model()(x).argmax(-1)
            got = model.to(device)(x.to(device)).argmax(-1).cpu()
        n = x.shape[0]
        return Score((got == ref).float().mean().item(), self.metric_name, f"agreement|{split}|n={n}", n)


def make_task():
    return AgreementTask()
