"""write_report: render both files first, then replace each atomically."""
from __future__ import annotations

from pathlib import Path

from ..io import write_atomic

from .chart import png
from .load import load_study_data
from .page import page


def write_report(study_dir: Path, storage: str | None = None) -> tuple[Path, Path]:
    """Write ``report.html`` and ``pareto.png`` into a study's results folder.

    ``storage`` is the search's --storage URL when it did not use the folder's study.db.
    """
    study_dir = Path(study_dir)
    data = load_study_data(study_dir, storage)
    html, image = page(data).encode("utf-8"), png(data)
    out = study_dir / "report.html", study_dir / "pareto.png"
    write_atomic(out[0], html)
    write_atomic(out[1], image)
    return out
