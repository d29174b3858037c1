"""The texts (or text pairs) and labels of a CSV or TSV file with a header row, and one
file carved into the task's splits."""
from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass
from pathlib import Path

from ... import yaml_io
from ...errors import AutoqError
from ..pool import MIN_POOL
from .options import Options

TASK_FILE = "hf-text-classification file"
MIN_SPLIT = 8  # labelled examples of a split, at least
FORMATS = "allowed: .csv, comma-separated with quoting; .tsv, tab-separated, read as is"


@dataclass(frozen=True)
class Example:
    text: str
    pair: str | None
    label: int | None  # a class number; None in a pool

    @property
    def key(self) -> str:
        """The input, as a pool file's line would hold it."""
        return self.text if self.pair is None else f"{self.text}\t{self.pair}"


def _dialect(path: Path) -> dict:
    suffix = path.suffix.lower()
    if suffix in (".tsv", ".tab"):  # MRPC's quote characters are text, not quoting
        return {"delimiter": "\t", "quoting": csv.QUOTE_NONE}
    if suffix == ".csv":
        return {"delimiter": ","}
    raise AutoqError(f"{TASK_FILE} {path}: not a .csv or .tsv file ({FORMATS})")



def label_id(value: str, label2id: dict[str, int], classes: int) -> int | None:
    """A label as a class number: a name of the checkpoint's ``label2id``, or a number."""
    if value in label2id:
        return int(label2id[value])
    try:
        number = int(value)
    except ValueError:
        return None
    return number if 0 <= number < classes else None


def labels_allowed(label2id: dict[str, int], classes: int) -> str:
    names = ", ".join(sorted(label2id, key=lambda k: label2id[k]))
    return f"allowed: the checkpoint's config.label2id names {names}, or a class number 0 to {classes - 1}"


def _columns(path: Path, header: list[str], opts: Options, labelled: bool) -> list[int]:
    wanted = [opts.text] + ([opts.text_pair] if opts.text_pair else []) + ([opts.label] if labelled else [])
    missing = [c for c in wanted if c not in header]
    if missing:
        arg = {opts.text: "text", opts.text_pair: "text_pair", opts.label: "label"}[missing[0]]
        raise AutoqError(f"{TASK_FILE} {path}: no column {missing[0]!r} ({arg}=); its columns: "
                         f"{', '.join(map(repr, header))}")
    return [header.index(c) for c in wanted]


def read(path: Path, opts: Options, labelled: bool, label2id: dict[str, int],
         classes: int) -> list[Example]:
    """The file's examples in order (at most ``opts.max_rows``); blank lines are skipped.
    A labelled file needs a label on every row."""
    reader = csv.reader(io.StringIO(yaml_io.read_text(path, TASK_FILE), newline=""), **_dialect(path))
    out: list[Example] = []
    try:
        header = [h.strip() for h in next(reader, [])]
        cols = _columns(path, header, opts, labelled)
        for row in reader:
            if opts.max_rows is not None and len(out) == opts.max_rows:
                break
            if any(cell.strip() for cell in row):
                cells = [row[c].strip() if c < len(row) else "" for c in cols]
                out.append(_example(f"{TASK_FILE} {path}, line {reader.line_num}",
                                    dict(zip([header[c] for c in cols], cells)), opts, labelled,
                                    label2id, classes))
    except csv.Error as e:  # a field past csv's size limit, a stray NUL
        raise AutoqError(f"{TASK_FILE} {path}, line {reader.line_num}: not a well-formed row ({e}; "
                         f"{FORMATS})") from None
    return out


def _example(where: str, cells: dict[str, str], opts: Options, labelled: bool,
             label2id: dict[str, int], classes: int) -> Example:
    """One row's example: its text(s) and, in a labelled file, its label's class."""
    empty = [name for name, cell in cells.items() if not cell]
    if empty:
        what = "label" if empty[0] == opts.label and labelled else "text"
        raise AutoqError(f"{where}: no {what} in column {empty[0]!r} (every row needs one)")
    label = label_id(cells[opts.label], label2id, classes) if labelled else None
    if labelled and label is None:
        raise AutoqError(f"{where}: label {cells[opts.label]!r} is not a class of the checkpoint "
                         f"({labels_allowed(label2id, classes)})")
    return Example(cells[opts.text], cells[opts.text_pair] if opts.text_pair else None, label)


def _count(size: int | float, rows: int) -> int:
    return size if isinstance(size, int) else round(size * rows)


def carve(path: Path, rows: list[Example], opts: Options) -> dict[str, list[Example]]:
    """One file's rows shuffled by ``opts.seed``: confirm first, then search, the rest the
    pool (at least MIN_POOL rows, unless pool=FILE gives one)."""
    n_confirm, n_search = _count(opts.confirm_size, len(rows)), _count(opts.search_size, len(rows))
    rest = 0 if opts.pool is not None else MIN_POOL
    if min(n_confirm, n_search) < MIN_SPLIT or n_confirm + n_search + rest > len(rows):
        raise AutoqError(
            f"{TASK_FILE} {path}: {len(rows)} row(s), too few for search_size={opts.search_size} "
            f"({n_search} rows) and confirm_size={opts.confirm_size} ({n_confirm} rows)"
            + (f" with {MIN_POOL} left for the pool" if rest else "")
            + f" (allowed: at least {MIN_SPLIT} rows in each split; give more rows, smaller "
            f"sizes" + (", or pool=FILE)" if rest else ")"))
    order = list(range(len(rows)))
    random.Random(opts.seed).shuffle(order)
    cut = {"confirm": order[:n_confirm], "search": order[n_confirm:n_confirm + n_search],
           "pool": order[n_confirm + n_search:]}
    return {k: [rows[i] for i in idx] for k, idx in cut.items()}


def check_split(path: Path, rows: list[Example]) -> None:
    if len(rows) < MIN_SPLIT:
        raise AutoqError(f"{TASK_FILE} {path}: {len(rows)} row(s), too few for a split "
                         f"(allowed: at least {MIN_SPLIT})")
