"""A user's own task, as the README shows: loaded by the CLI as plugin_task:make_task."""
import math

import torch

from autoq.tasks import Score, Task
from autoq.tasks.base import run_parts
from conftest import TinyNet


class ClosenessTask(Task):
    """TinyNet on random tokens; the metric is 1 - relative error against the float outputs."""

    name, metric_name = "tiny-closeness", "closeness"

    def __init__(self, init_seed: int = 0, data_seed: int = 0):
        g = torch.Generator().manual_seed(data_seed)
        self.data = {"search": torch.randint(0, 50, (32, 7), generator=g),
                     "confirm": torch.randint(0, 50, (32, 7), generator=g)}
        self._reference = {}
        self.init_seed, self.data_seed = init_seed, data_seed

    def build_model(self):
        torch.manual_seed(self.init_seed)
        return TinyNet().eval()

    def calibration_batches(self):
        return [(self.data["search"][:8],), (self.data["search"][8:16],)]

    def evaluate(self, model, split="confirm", fraction=1.0, device="cpu"):
        x = self.data[split][: math.ceil(fraction * 32)]
        with torch.no_grad():
            ref = self.reference(split)[: x.shape[0]]
            got = model.to(device)(x.to(device)).cpu()
        n = x.shape[0]
        closeness = 1 - ((got - ref).norm() / ref.norm()).item()
        return Score(closeness, self.metric_name, self.signature(split, n), n,
                     examples=self.examples(got, ref))

    def signature(self, split, n):
        return f"closeness|{split}|seed={self.data_seed}|n={n}"

    @staticmethod
    def examples(got, ref):
        """Per example: (squared error, squared reference), which sum to the metric."""
        return torch.stack([((got - ref) ** 2).flatten(1).sum(1), (ref ** 2).flatten(1).sum(1)], 1).double().numpy()

    def summed_metric(self, sums):
        return 1 - math.sqrt(sums[0] / sums[1])

    def reference(self, split):
        if split not in self._reference:
            with torch.no_grad():
                self._reference[split] = self.build_model()(self.data[split])
        return self._reference[split]


def make_task():
    return ClosenessTask()


def seeded_task(data_seed: int = 0):
    """The same task on other random splits (``--task-arg data_seed=N``)."""
    return ClosenessTask(data_seed=data_seed)


def retrained_task():
    """The same task with a model trained again elsewhere: other weights."""
    return ClosenessTask(init_seed=1)


class ChanceTask(ClosenessTask):
    """The same, with a chance score: the constant answer ``level`` times the reference
    (0: all zeros, closeness 0; 1: the reference itself, which no recipe beats)."""

    def __init__(self, level: float):
        super().__init__()
        self.level = level

    def chance(self, split="confirm"):
        ref = self.reference(split)
        got = self.level * ref
        closeness = 1 - ((got - ref).norm() / ref.norm()).item()
        return Score(closeness, self.metric_name, self.signature(split, len(ref)), len(ref),
                     examples=self.examples(got, ref))


def zero_chance_task():
    return ChanceTask(0.0)


def perfect_chance_task():
    return ChanceTask(1.0)


class LabelTask(ClosenessTask):
    """A classifier: each token's class (its largest output, less that output's mean over
    the split, since the raw outputs' biases pick one class everywhere), scored by accuracy
    against FP32's classes; a recipe agrees with FP32 on an example when it keeps every
    one of its classes."""

    metric_name = "accuracy"

    def evaluate(self, model, split="confirm", fraction=1.0, device="cpu"):
        x = self.data[split][: math.ceil(fraction * 32)]
        with torch.no_grad():
            ref = self.reference(split)
            mean = ref.mean(dim=(0, 1))
            gold = (ref[: x.shape[0]] - mean).argmax(-1)
            pred = (model.to(device)(x.to(device)).cpu() - mean).argmax(-1)
        rows = torch.stack([(pred == gold).sum(1), torch.full((x.shape[0],), gold.shape[1])], 1)
        return Score(rows[:, 0].sum().item() / rows[:, 1].sum().item(), self.metric_name,
                     f"accuracy|{split}|n={x.shape[0]}", x.shape[0], examples=rows.double().numpy())

    def summed_metric(self, sums):
        return sums[0] / sums[1]


def label_task():
    return LabelTask()


class BatchedTask(ClosenessTask):
    """The same metric, scored in 4 batches of 8 that a memo keeps, as the built-in tasks do."""

    reuses_outputs = True

    def __init__(self):
        super().__init__()
        self.runs = 0

    def evaluate(self, model, split="confirm", fraction=1.0, device="cpu", memo=None):
        x = self.data[split]

        def run(rows):
            self.runs += 1
            with torch.no_grad():
                return list(model.to(device)(x[rows].to(device)).cpu())

        out = run_parts([list(range(i, i + 8)) for i in range(0, 32, 8)], fraction, run, memo, (split,))
        picked = sorted(out)
        got, ref = torch.stack([out[i] for i in picked]), self.reference(split)[picked]
        closeness = 1 - ((got - ref).norm() / ref.norm()).item()
        return Score(closeness, self.metric_name, self.signature(split, len(picked)), len(picked))


def batched_task():
    return BatchedTask()


class BrokenTask(ClosenessTask):
    """Fails in one of the ways a night can go wrong, for the reliability tests."""

    def __init__(self, how):
        super().__init__()
        self.how, self.batch_size = how, 16

    def evaluate(self, model, split="confirm", fraction=1.0, device="cpu"):
        score = super().evaluate(model, split, fraction, device)
        quantized = any(type(m).__name__ == "QuantLayer" for m in model.modules())
        if self.how == "oom" and self.batch_size > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        if quantized and self.how == "nan":
            return Score(float("nan"), self.metric_name, score.signature, score.n)
        if quantized and self.how == "raise":
            raise RuntimeError("user code broke")
        return score


def nan_task():
    return BrokenTask("nan")


def raising_task():
    return BrokenTask("raise")


def oom_task():
    return BrokenTask("oom")


class HangingTask(ClosenessTask):
    """FP32 scores at once; a quantized model's evaluation hangs (sleeps for an hour)."""

    def evaluate(self, model, split="confirm", fraction=1.0, device="cpu"):
        if any("Quant" in type(m).__name__ for m in model.modules()):
            import time
            time.sleep(3600)
        return super().evaluate(model, split, fraction, device)


def hanging_task():
    return HangingTask()
