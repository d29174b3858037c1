"""What the benchmarks share: a markdown table, printed and written atomically."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from autoq.io import write_atomic  # noqa: E402


def emit(lines: list[str], out: str | None) -> None:
    """Print ``lines`` as one text, and write it to ``out`` (atomically) when given."""
    text = "\n".join(lines) + "\n"
    if out:
        write_atomic(Path(out), text)
    print(text)
