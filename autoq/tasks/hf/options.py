"""The arguments of hf-text-classification (``--task-arg``, or a YAML file of them given
as ``config=FILE``), checked, with their defaults."""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from ... import yaml_io
from ...errors import AutoqError

TASK = "hf-text-classification"
METRICS = ("accuracy", "f1")
PATHS = ("model", "data", "search", "confirm", "pool")


@dataclass(frozen=True)
class Options:
    model: Path
    data: Path | None = None  # one file, carved into confirm, search and pool by ``seed``
    search: Path | None = None  # or the two labelled splits in files of their own
    confirm: Path | None = None
    pool: Path | None = None  # unlabelled texts for the fidelity objective
    text: str = "text"
    text_pair: str | None = None
    label: str = "label"
    metric: str = "accuracy"
    positive: str | None = None  # f1's positive class: a label name or class number (default 1)
    seed: int = 0
    max_length: int = 128
    batch_size: int = 32
    search_size: int | float = 0.4  # rows of data= (a share when below 1)
    confirm_size: int | float = 0.4
    max_rows: int | None = None  # read at most this many rows of each file


NAMES = tuple(f.name for f in fields(Options))


def bad(name: str, value, allowed: str) -> AutoqError:
    return AutoqError(f"{TASK}: {name}={value!r} is not allowed (allowed: {allowed})")


def _from_file(path: Path) -> dict:
    """A YAML mapping of the arguments; relative paths in it are relative to its folder."""
    values = yaml_io.load(path, f"{TASK} config")
    if not isinstance(values, dict):
        raise AutoqError(f"{TASK} config {path}: expected a mapping of arguments "
                         f"({', '.join(NAMES)})")
    unknown = [str(k) for k in values if k not in NAMES]
    if unknown:
        raise AutoqError(f"{TASK} config {path}: unknown argument(s) {', '.join(unknown)} "
                         f"(allowed: {', '.join(NAMES)})")
    for k in PATHS:
        if values.get(k) is not None:
            values[k] = path.parent / Path(str(values[k])).expanduser()
    return values


def _whole(values: dict, name: str, least: int) -> None:
    v = values.get(name)
    if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < least):
        raise bad(name, v, f"a whole number, {least} or more")


def _size(values: dict, name: str) -> None:
    v = values.get(name)
    ok = not isinstance(v, bool) and (isinstance(v, int) and v >= 1
                                      or isinstance(v, float) and 0 < v < 1)
    if v is not None and not ok:
        raise bad(name, v, "a number of rows, 1 or more, or a share of the file between 0 and 1")


def _files(values: dict) -> None:
    """data=FILE, or search=FILE and confirm=FILE."""
    has = {k: values.get(k) is not None for k in ("data", "search", "confirm")}
    if not (has["data"] and not has["search"] and not has["confirm"]
            or not has["data"] and has["search"] and has["confirm"]):
        given = ", ".join(k for k, v in has.items() if v) or "none"
        raise AutoqError(f"{TASK}: give data=FILE (carved into search, confirm and pool by "
                         f"seed), or search=FILE and confirm=FILE (given: {given})")


def options(given: dict, config: str | Path | None = None) -> Options:
    """The arguments given (None: not given) over those of ``config``, checked."""
    values = _from_file(Path(config).expanduser()) if config is not None else {}
    values.update({k: v for k, v in given.items() if v is not None})
    if values.get("model") is None:
        raise AutoqError(f"{TASK} needs model=DIR: a local Hugging Face checkpoint folder "
                         f"(config.json, weights and tokenizer)")
    _files(values)
    if values.get("metric", "accuracy") not in METRICS:
        raise bad("metric", values["metric"], ", ".join(METRICS))
    _whole(values, "seed", 0)
    for name in ("max_length", "batch_size", "max_rows"):
        _whole(values, name, 1)
    for name in ("search_size", "confirm_size"):
        _size(values, name)
    for name in PATHS:
        if values.get(name) is not None:
            values[name] = Path(str(values[name])).expanduser()
    for name in ("text", "text_pair", "label", "positive"):
        if values.get(name) is not None:
            values[name] = str(values[name])
    return Options(**values)
