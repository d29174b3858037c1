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
    """The built-in space of a task (a spec: its name and arguments), shipped inside the
    package (autoq/search_spaces/)."""
    from pathlib import Path
    from ..tasks.registry import check_task, spec_name
    check_task(task)  # a misspelt task (or argument) is named as such, not as a missing space
    name = spec_name(task)
    root = Path(__file__).resolve().parents[1] / "search_spaces"
    if not (root / f"{name}.yaml").is_file():
        known = ", ".join(sorted(p.stem for p in root.glob("*.yaml")))
        raise AutoqError(f"no search space given and none built in for task {name!r} (built in: "
                         f"{known}): pass --space FILE (`autoq size --task ... --per-layer` lists "
                         f"the module names its groups match)")
    return str(root / f"{name}.yaml")


def task_arg(sp, required: bool = True) -> None:
    """--task, and --task-arg KEY=VALUE for its factory (repeatable)."""
    from ..tasks.registry import task_names
    sp.add_argument("--task", required=required,
                    help=f"{', '.join(task_names())}, or package.module:factory")
    sp.add_argument("--task-arg", action="append", default=[], metavar="KEY=VALUE",
                    help="an argument of the task's factory (repeatable), e.g. model=DIR; the "
                    "value is read as a number, true/false, else text")


def task_spec(args) -> str:
    """The task the command names, with its --task-arg values: what get_task builds and a
    study records."""
    from ..tasks.registry import make_spec
    return make_spec(args.task, args.task_arg)


def study_default(args) -> str:
    """A study's default name: the task's (its name, not its arguments)."""
    from ..tasks.registry import spec_name
    return spec_name(args.task).replace(":", "-")


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
