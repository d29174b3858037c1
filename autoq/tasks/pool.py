"""Pools of unlabelled inputs for the fidelity objective: a user's file, read and checked,
and the built-in tasks' default pools, sampled from training data."""
from __future__ import annotations

import random
from pathlib import Path
from typing import Callable, Sequence

from ..errors import AutoqError
from .data import read_text

MIN_POOL = 32  # examples: fewer cannot be cut into the batches that fractions score


def read_rows(path: Path, fields: Sequence[int], what: str) -> list[list[str]]:
    """The tab-separated rows of a UTF-8 text file (gzipped if named .gz; a BOM and CRLF
    line ends are fine, blank lines are skipped), each with one of ``fields`` fields;
    ``what`` says in a message what a row holds."""
    text = read_text(path, "pool file")
    rows = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        row = line.split("\t")
        if len(row) not in fields or not all(f.strip() for f in row):
            allowed = " or ".join(map(str, fields))
            raise AutoqError(f"pool file {path}, line {i}: {len(row)} tab-separated field(s), "
                             f"some maybe empty (allowed: {allowed} non-empty fields: {what})")
        rows.append(row)
    return rows


def check_pool(path: Path, keys: list, judged: set, key_name: str) -> None:
    """Refuse a pool too small for fractions, or one that shares inputs (``keys``, one per
    row) with the splits the front is judged on."""
    if len(keys) < MIN_POOL:
        raise AutoqError(f"pool file {path}: {len(keys)} example(s) (allowed: at least {MIN_POOL}, "
                         f"so that a fraction of the pool is several batches)")
    shared = [k for k in keys if k in judged]
    if shared:
        raise AutoqError(f"pool file {path}: {len(shared)} {key_name}(s) also in the splits the "
                         f"front is judged on (first: {str(shared[0])[:80]!r}); a pool must be "
                         f"disjoint from them: remove those lines")


def sample(count: int, usable: Callable[[int], bool], n: int, seed: int) -> list[int]:
    """``n`` indices of ``count`` for which ``usable`` holds, seeded, in index order."""
    idx = [i for i in range(count) if usable(i)]
    return sorted(random.Random(seed).sample(idx, min(n, len(idx))))


def without_note(keys: Sequence, builtin: set, judged: set) -> str:
    """What a default pool's name adds when a user's judged files (``judged``) take inputs
    out of it that the built-in splits (``builtin``) leave in: '' when they take none."""
    from ..fidelity import text_digest
    hit = sorted({str(k) for k in keys if k in judged and k not in builtin})
    return f"|without={len(hit)}@sha256:{text_digest(hit)}" if hit else ""
