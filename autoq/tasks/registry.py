"""Task lookup: built-in names, or a user's ``package.module:factory``, with arguments.

A task spec is the task's name, optionally followed by ``key=value`` arguments in shell
quoting (``hf-text-classification model=ckpt 'text=#1 String'``): one line that a search
records and hands to its workers as it is. Values are read as YAML scalars: whole numbers,
numbers, true/false, else strings (quote a value to keep it a string).
"""
from __future__ import annotations

import importlib
import inspect
import os
import shlex
import sys

import yaml

from ..errors import AutoqError
from .base import Task

# name -> "module:factory", imported only when asked for
BUILTIN = {
    "gnmt-multi30k": "autoq.tasks.gnmt.task:GNMTMulti30k",
    "hf-text-classification": "autoq.tasks.hf.task:HFTextClassification",
    "minilm-mrpc": "autoq.tasks.minilm.task:MiniLMMRPC",
}


def task_names() -> list[str]:
    return sorted(BUILTIN)


def spec_name(spec: str) -> str:
    """The task's name in a spec: what comes before its arguments."""
    return spec.strip().split(" ", 1)[0]


def make_spec(name: str, pairs: list[str] | tuple[str, ...] = ()) -> str:
    """A spec of a task's name and its ``key=value`` texts (``--task-arg``), as written."""
    return " ".join([name.strip(), *(shlex.quote(p) for p in pairs)])


def _spec_pairs(spec: str) -> list[str]:
    rest = spec.strip().partition(" ")[2]
    try:
        return shlex.split(rest)
    except ValueError as e:
        raise AutoqError(f"task {spec!r}: its arguments cannot be read ({e}; allowed: "
                         f"KEY=VALUE, quoted as in a shell)") from None


def scalar(text: str):
    """A ``--task-arg`` value: an int, a float, true/false, else the text (unquoted)."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            return text
        return value if isinstance(value, str) else text
    return text


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


def _takes(factory) -> tuple[list[str], list[str], bool] | None:
    """The factory's keyword arguments, those it needs, and whether it takes any
    (``**kwargs``); None when its signature cannot be read."""
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return None
    named = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return ([p.name for p in named], [p.name for p in named if p.default is p.empty],
            any(p.kind is p.VAR_KEYWORD for p in params))


def _listing(takes) -> str:
    if takes is None:
        return "see its factory"
    return f"its arguments: {', '.join(takes[0])}" if takes[0] else "it takes no arguments"


def task_kwargs(spec: str, factory, given: dict | None = None) -> dict:
    """The spec's arguments (and ``given``, which win), checked against what the factory
    takes: a malformed, repeated, unknown or missing one is one message listing them."""
    name, takes = spec_name(spec), _takes(factory)
    listed = _listing(takes)
    kwargs: dict = {}
    for pair in _spec_pairs(spec):
        key, eq, value = pair.partition("=")
        if not eq or not key.isidentifier():
            raise AutoqError(f"task {name!r}: --task-arg {pair!r} is not KEY=VALUE ({listed})")
        if key in kwargs:
            raise AutoqError(f"task {name!r}: --task-arg {key} given twice ({listed})")
        kwargs[key] = scalar(value)
    kwargs.update(given or {})
    if takes is None:
        return kwargs
    unknown = [k for k in kwargs if k not in takes[0]]
    if unknown and not takes[2]:
        raise AutoqError(f"task {name!r} takes no argument {', '.join(map(repr, unknown))} ({listed})")
    missing = [k for k in takes[1] if k not in kwargs]
    if missing:
        raise AutoqError(f"task {name!r} needs " + ", ".join(f"--task-arg {k}=..." for k in missing)
                         + f" ({listed})")
    return kwargs


def check_task(spec: str) -> None:
    """Fail with a clear message, before anything is built, when ``spec`` names no task
    or gives it arguments it does not take."""
    name = spec_name(spec)
    task_kwargs(spec, _load_factory(BUILTIN.get(name, name)))


def get_task(spec: str, **kwargs) -> Task:
    """Build a task from a built-in name or ``package.module:factory`` (a spec, with its
    arguments), with ``kwargs`` as further arguments."""
    name = spec_name(spec)
    factory = _load_factory(BUILTIN.get(name, name))
    kwargs = task_kwargs(spec, factory, kwargs)
    try:
        task = factory(**kwargs)
    except AutoqError:
        raise
    except Exception as e:
        raise AutoqError(f"task {name!r}: its factory raised {type(e).__name__}: {e}") from None
    if not isinstance(task, Task):
        raise AutoqError(f"task {name!r}: the factory returned {type(task).__name__}, "
                         f"not an autoq.tasks.Task")
    return task
