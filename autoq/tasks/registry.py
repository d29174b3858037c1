"""Task lookup: built-in names, or a user's ``package.module:factory``."""
from __future__ import annotations

import importlib
import os
import sys

from ..errors import AutoqError
from .base import Task

# name -> "module:factory", imported only when asked for
BUILTIN = {
    "gnmt-multi30k": "autoq.tasks.gnmt.task:GNMTMulti30k",
    "minilm-mrpc": "autoq.tasks.minilm.task:MiniLMMRPC",
}


def task_names() -> list[str]:
    return sorted(BUILTIN)


def _load_factory(spec: str):
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise AutoqError(f"task {spec!r} is neither a built-in task ({', '.join(task_names())}) "
                         f"nor of the form package.module:factory")
    if os.getcwd() not in sys.path:  # a plugin module in the current folder, as `python -m` finds it
        sys.path.append(os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # ImportError, or the module's own code failing
        raise AutoqError(f"task {spec!r}: cannot import module {module_name!r} "
                         f"({type(e).__name__}: {e})") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise AutoqError(f"task {spec!r}: module {module_name!r} has no attribute {attr!r}") from None


def check_task(spec: str) -> None:
    """Fail with a clear message, before anything is built, when ``spec`` names no task."""
    _load_factory(BUILTIN.get(spec, spec))


def get_task(spec: str, **kwargs) -> Task:
    """Build a task from a built-in name or ``package.module:factory``."""
    factory = _load_factory(BUILTIN.get(spec, spec))
    try:
        task = factory(**kwargs)
    except AutoqError:
        raise
    except Exception as e:
        raise AutoqError(f"task {spec!r}: its factory raised {type(e).__name__}: {e}") from None
    if not isinstance(task, Task):
        raise AutoqError(f"task {spec!r}: the factory returned {type(task).__name__}, "
                         f"not an autoq.tasks.Task")
    return task
