"""What the experiments share: a markdown table, printed and written atomically."""
from __future__ import annotations

from pathlib import Path

from autoq.io import write_atomic


def emit(lines: list[str], out: str | None) -> None:
    """Print ``lines`` as one text, and write it to ``out`` (atomically) when given."""
    text = "\n".join(lines) + "\n"
    if out:
        write_atomic(Path(out), text)
    print(text)
