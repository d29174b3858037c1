"""What several commands parse alike: checked numbers, devices, the task and statistics
options, and the built-in search spaces."""
from __future__ import annotations

import argparse

from ..errors import AutoqError

DEVICE_HELP = "cpu, cuda or cuda:N (default: cuda if present)"


def number(cast: type, ok, allowed: str):
    """An argparse type: ``cast`` the text, then check it with ``ok``."""
    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number (allowed: {allowed})") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{value} is out of range (allowed: {allowed})")
        return value
    return parse


positive_fraction = number(float, lambda v: 0 < v <= 1, "0 < F <= 1")
fraction = number(float, lambda v: 0 <= v <= 1, "0 <= F <= 1")
nonneg = number(float, lambda v: v >= 0, "0 or more")
positive_int = number(int, lambda v: v >= 1, "a whole number, 1 or more")
count = number(int, lambda v: v >= 0, "a whole number, 0 or more")


def device(text: str) -> str:
    if text != "cpu" and not text.startswith("cuda"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a device (allowed: cpu, cuda, cuda:N)")
    return text


def load_stats(path):
    if path is None:
        return None
    from ..quant import stats as stats_io
    return stats_io.load(path)


def default_space(task: str) -> str:
    """The built-in space of a task, shipped inside the package (autoq/search_spaces/)."""
    from pathlib import Path
    from ..tasks.registry import check_task
    check_task(task)  # a misspelt task is named as such, not as a missing space
    root = Path(__file__).resolve().parents[1] / "search_spaces"
    if not (root / f"{task}.yaml").is_file():
        known = ", ".join(sorted(p.stem for p in root.glob("*.yaml")))
        raise AutoqError(f"no search space given and none built in for task {task!r} (built in: "
                         f"{known}): pass --space FILE")
    return str(root / f"{task}.yaml")


def task_arg(sp) -> None:
    sp.add_argument("--task", required=True,
                    help="gnmt-multi30k, minilm-mrpc, or package.module:factory")


def stats_arg(sp) -> None:
    sp.add_argument("--stats", help="statistics YAML, such as a study's <study>/stats.yaml "
                    "(default: collected once and cached)")


def study_name(text: str) -> str:
    """An argparse type: a study's name, checked as a name (never a path)."""
    from ..search.config import check_study_name
    try:
        check_study_name(text)
    except AutoqError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text
