"""A local Hugging Face sequence-classification checkpoint folder: its config, checked
before anything is read from it, its tokenizer and its model (offline, quietly)."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach a model hub

import torch  # noqa: E402

from ... import quiet  # noqa: E402
from ...errors import AutoqError  # noqa: E402

WHAT = "hf-text-classification: model="
KIND = "ForSequenceClassification"


def read_config(folder: Path):
    """The checkpoint's config; refused unless it is a sequence-classification model's."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING
    if not (folder / "config.json").is_file():
        why = "no such folder" if not folder.is_dir() else "it holds no config.json"
        raise AutoqError(f"{WHAT}{folder} is not a Hugging Face checkpoint folder ({why}; allowed: "
                         f"a local folder saved by save_pretrained, with config.json)")
    try:
        config = AutoConfig.from_pretrained(folder, local_files_only=True)
    except Exception as e:  # unknown model_type, malformed JSON
        raise AutoqError(f"{WHAT}{folder}: its config.json cannot be read "
                         f"({type(e).__name__}: {str(e)[:200]})") from None
    archs = list(config.architectures or [])
    if (archs and not any(a.endswith(KIND) for a in archs)
            or type(config) not in MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING):
        kind = ", ".join(archs) or config.model_type
        raise AutoqError(f"{WHAT}{folder} is not a sequence-classification model ({kind}; "
                         f"allowed: a *{KIND} checkpoint, e.g. BertForSequenceClassification)")
    return config


def load_tokenizer(folder: Path):
    from transformers import AutoTokenizer
    try:
        return AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except Exception as e:
        raise AutoqError(f"{WHAT}{folder}: no tokenizer can be loaded from it ({type(e).__name__}: "
                         f"{str(e)[:200]}; allowed: a folder holding the tokenizer's files, as "
                         f"tokenizer.save_pretrained writes them)") from None


@contextlib.contextmanager
def _hf_quiet():
    """transformers' load reports and progress bars, silenced for the duration."""
    from transformers.utils import logging as hf_logging
    level, bar = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with quiet.torchao_imports():
            yield
    finally:
        hf_logging.set_verbosity(level)
        if bar:
            hf_logging.enable_progress_bar()


def load_model(folder: Path) -> torch.nn.Module:
    """The float32 classifier in eval mode on CPU; refused when weights are missing (its
    head would be freshly random)."""
    from transformers import AutoModelForSequenceClassification
    try:
        with _hf_quiet():
            model, info = AutoModelForSequenceClassification.from_pretrained(
                folder, local_files_only=True, dtype=torch.float32, output_loading_info=True)
    except Exception as e:
        raise AutoqError(f"{WHAT}{folder}: its weights cannot be loaded ({type(e).__name__}: "
                         f"{str(e)[:200]})") from None
    missing = sorted(info.get("missing_keys") or [])
    if missing:
        raise AutoqError(f"{WHAT}{folder} lacks {len(missing)} weight(s) of the classifier "
                         f"(first: {missing[0]}): not a fine-tuned sequence-classification "
                         f"checkpoint (allowed: one saved after fine-tuning, head included)")
    return model.eval()
