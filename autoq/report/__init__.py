"""A study's report: an interactive, self-contained report.html and a static pareto.png."""
from .write import write_report

__all__ = ["write_report"]
