"""autoq prepare."""
from __future__ import annotations

from ..errors import AutoqError
from .args import task_arg, task_spec


def run(args) -> None:
    from ..tasks import get_task
    args.task = args.task or args.task_name
    if not args.task:
        raise AutoqError("prepare needs a task: autoq prepare --task minilm-mrpc")
    task = get_task(task_spec(args))
    where = task.prepare(force=args.force)
    print(f"{args.task}: nothing to prepare" if where is None else f"{args.task}: ready at {where}")


def add(sub) -> None:
    sp = sub.add_parser("prepare", help="build a task's model once (e.g. fine-tune minilm-mrpc)")
    task_arg(sp, required=False)
    sp.add_argument("task_name", nargs="?", metavar="TASK", help="the task, as the older form "
                    "`autoq prepare TASK` gives it")
    sp.add_argument("--force", action="store_true", help="build it again even if cached")
    sp.set_defaults(func=run)
    sp.epilog = "example:\n  autoq prepare --task minilm-mrpc"
