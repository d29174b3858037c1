"""The shipped GNMT asset: fp16 safetensors weights, tokenizer, config and checksums."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer

from .model import GNMT, GNMTConfig

ASSET_DIR = Path(__file__).resolve().parents[2] / "assets" / "gnmt"
WEIGHTS, TOKENIZER, CONFIG, SUMS = "model.safetensors", "tokenizer.json", "config.json", "SHA256SUMS"
TIED = "decoder.embedder.weight"  # the same Parameter as encoder.embedder.weight; stored once


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_sums(directory: Path) -> None:
    """SHA256SUMS over every other file in the directory (sha256sum -c format)."""
    directory = Path(directory)
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.name != SUMS)
    (directory / SUMS).write_text("".join(f"{sha256(p)}  {p.name}\n" for p in files))


def read_sums(directory: Path) -> dict[str, str]:
    lines = (Path(directory) / SUMS).read_text().splitlines()
    return {name.strip(): digest for digest, name in (line.split(maxsplit=1) for line in lines)}


def save_asset(model: GNMT, tokenizer: Tokenizer, directory: Path, extra: dict | None = None) -> None:
    """Weights as fp16, the tokenizer, the config (plus ``extra`` facts) and SHA256SUMS."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", torch.float16).contiguous()
             for k, v in model.state_dict().items() if k != TIED}
    save_file(state, str(directory / WEIGHTS), metadata={"format": "pt"})
    tokenizer.save(str(directory / TOKENIZER))
    config = {"model": asdict(model.config), **(extra or {})}
    (directory / CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    write_sums(directory)


def load_model(directory: Path = ASSET_DIR) -> GNMT:
    """The float32 model in eval mode, on CPU."""
    directory = Path(directory)
    config = json.loads((directory / CONFIG).read_text())["model"]
    model = GNMT(GNMTConfig(**config))
    state = {k: v.float() for k, v in load_file(str(directory / WEIGHTS)).items()}
    state[TIED] = state["encoder.embedder.weight"]
    model.load_state_dict(state)
    return model.eval()


def load_tokenizer(directory: Path = ASSET_DIR) -> Tokenizer:
    return Tokenizer.from_file(str(Path(directory) / TOKENIZER))
