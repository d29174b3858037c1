"""deploy.json as a typed record: what ``autoq deploy`` measured, one value per meaning.

Sizes are bytes; times are seconds (medians); ratios are deployed over FP32. Figures are
rounded when written: 6 significant digits for times, 4 decimals for ratios and metrics.
The keys are documented in docs/deploy.md.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..io import write_atomic

FILE = "deploy.json"


def _sig(x: float | None, digits: int = 6) -> float | None:
    return None if x is None else float(f"{x:.{digits}g}")


def _dec(x: float | None, places: int = 4) -> float | None:
    return None if x is None else round(x, places)


@dataclass(frozen=True)
class Sizes:
    fp32_bytes: int        # the float model as one safetensors file
    disk_bytes: int        # what was saved: model.safetensors + manifest.json
    search_bytes: int      # the engine's accounting of the recipe (the front's size)
    peer_bytes: int | None  # torch.save of the peer's state dict

    def to_json(self) -> dict:
        return {**asdict(self), "ratio": _dec(self.disk_bytes / self.fp32_bytes),
                "peer_ratio": _dec(self.peer_bytes / self.fp32_bytes) if self.peer_bytes else None,
                "disk_over_search": _dec(self.disk_bytes / self.search_bytes)}


@dataclass(frozen=True)
class Timing:
    fp32_s: float
    deployed_s: float
    peer_s: float | None

    def to_json(self) -> dict:
        return {"fp32_s": _sig(self.fp32_s), "deployed_s": _sig(self.deployed_s),
                "peer_s": _sig(self.peer_s), "speedup": _dec(self.fp32_s / self.deployed_s, 3),
                "peer_speedup": _dec(self.fp32_s / self.peer_s, 3) if self.peer_s else None}


@dataclass(frozen=True)
class Metrics:
    name: str
    split: str
    fraction: float
    n: int
    signature: str
    fp32: float
    deployed: float
    predicted: float       # the engine's fake-quant model of the same recipe
    peer: float | None

    def to_json(self) -> dict:
        return {"name": self.name, "split": self.split, "fraction": self.fraction, "n": self.n,
                "signature": self.signature,
                **{k: _dec(getattr(self, k)) for k in ("fp32", "deployed", "predicted", "peer")},
                "drop": _dec(self.fp32 - self.deployed),
                "gap_to_prediction": _dec(self.deployed - self.predicted)}


@dataclass(frozen=True)
class DeployReport:
    task: str
    device: str
    size: Sizes
    latency: dict[str, Timing]  # by thread count
    metric: Metrics
    kernels: dict[str, int]
    fallbacks: list = field(default_factory=list)
    peer: str = ""
    build_s: float = 0.0
    repeats: int = 0
    batch: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"task": self.task, "device": self.device, "size": self.size.to_json(),
                "latency": {t: v.to_json() for t, v in self.latency.items()},
                "metric": self.metric.to_json(), "kernels": self.kernels,
                "fallbacks": self.fallbacks, "peer": self.peer, "build_s": _sig(self.build_s, 3),
                "repeats": self.repeats, "batch": self.batch}

    def write(self, folder: str | Path) -> Path:
        path = Path(folder) / FILE
        write_atomic(path, json.dumps(self.to_json(), indent=1) + "\n")
        return path

    @classmethod
    def from_json(cls, d: dict) -> "DeployReport":
        size = {k: d["size"][k] for k in ("fp32_bytes", "disk_bytes", "search_bytes", "peer_bytes")}
        timing = {t: Timing(v["fp32_s"], v["deployed_s"], v["peer_s"]) for t, v in d["latency"].items()}
        m = d["metric"]
        metrics = Metrics(**{k: m[k] for k in Metrics.__dataclass_fields__})
        rest = {k: d[k] for k in ("kernels", "fallbacks", "peer", "build_s", "repeats", "batch")}
        return cls(d["task"], d["device"], Sizes(**size), timing, metrics, **rest)

    @classmethod
    def load(cls, path: str | Path) -> "DeployReport":
        path = Path(path)
        return cls.from_json(json.loads((path / FILE if path.is_dir() else path).read_text()))
