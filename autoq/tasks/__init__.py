"""Tasks: a model, its data and its metric (see base.Task)."""
from .base import SPLITS, Score, Split, Task
from .registry import get_task, task_names

__all__ = ["SPLITS", "Score", "Split", "Task", "get_task", "task_names"]
