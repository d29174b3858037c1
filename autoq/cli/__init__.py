"""autoq's command line: a thin layer over the Python API, one module per command, each
with ``add`` (its options) and ``run`` (parse, call the API, print).

Bad input prints one message (``autoq: error: ...``) and exits 2, with no traceback.
"""
from __future__ import annotations

import argparse
import sys

from ..errors import AutoqError, mask_secrets
from . import check, demo, deploy, evaluate, pareto, prepare, report, search, sensitivity, size, stats
from .args import default_space

__all__ = ["build_parser", "default_space", "main"]

ENVIRONMENT = """environment:
  AUTOQ_DATA   folder holding the data sets (multi30k/, mrpc/); unset: downloaded into AUTOQ_CACHE
  AUTOQ_CACHE  fine-tuned models, statistics and downloads (default ~/.cache/autoq)

Start with `autoq demo`, then `autoq search --help`."""
COMMANDS = (search, demo, sensitivity, pareto, report, deploy, evaluate, stats, size, check, prepare)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="autoq", description="Automated mixed-precision "
                                "quantization search for PyTorch models.", epilog=ENVIRONMENT,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add(sub)
    for sp in sub.choices.values():
        sp.formatter_class = argparse.RawDescriptionHelpFormatter
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except AutoqError as e:
        print(f"autoq: error: {mask_secrets(str(e))}", file=sys.stderr)
        return 2
    except OSError as e:  # a full disk, a read-only folder: the study stays as it was
        where = f"{e.filename}: " if e.filename else ""
        print(f"autoq: error: {mask_secrets(where)}{e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("autoq: interrupted", file=sys.stderr)
        return 130
    return 0
