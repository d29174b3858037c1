"""Where data sets come from: $AUTOQ_DATA, else a checksummed download cache."""
from __future__ import annotations

import gzip
import hashlib
import os
import urllib.request
from pathlib import Path
from typing import Sequence

from ..errors import AutoqError
from ..io import write_atomic

CACHE = Path(os.environ.get("AUTOQ_CACHE", Path.home() / ".cache" / "autoq"))
MAX_BYTES = 256 * 2 ** 20  # a user's data file larger than this is refused before it is read

# dataset -> file -> (canonical url, md5)
_M30K = "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw/"
SOURCES: dict[str, dict[str, tuple[str, str]]] = {
    "multi30k": {
        "train.en.gz": (_M30K + "train.en.gz", "0065d13af80720a55ca8153d126e6627"),
        "train.de.gz": (_M30K + "train.de.gz", "81ff90b99829c0cd4b1b587d394afd39"),
        "val.en.gz": (_M30K + "val.en.gz", "2b69aa9253948ac9f67e94917272dd40"),
        "val.de.gz": (_M30K + "val.de.gz", "6e0e229eb049e3fc99a1ef02fb2d5f91"),
        "test_2016_flickr.en.gz": (_M30K + "test_2016_flickr.en.gz", "ff2c0fcb4893a13bd73414306bc250ae"),
        "test_2016_flickr.de.gz": (_M30K + "test_2016_flickr.de.gz", "efd67d314d98489b716b145475101932"),
    },
    "mrpc": {
        "train.tsv": ("https://dl.fbaipublicfiles.com/glue/data/MRPC/train.tsv",
                      "ce85e419c7df081267c9e01415f86fd7"),
        "dev.tsv": ("https://dl.fbaipublicfiles.com/glue/data/MRPC/dev.tsv",
                    "cbf6fb5d759c11c9cda50c7c876a3c81"),
    },
}


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def data_file(dataset: str, name: str) -> Path:
    """Path of one data file: from $AUTOQ_DATA/<dataset>/, else downloaded and verified."""
    if name not in SOURCES.get(dataset, {}):
        known = ", ".join(f"{d}/{n}" for d in SOURCES for n in SOURCES[d])
        raise AutoqError(f"{dataset}/{name} is not a built-in data file (those are: {known}); "
                         f"a file of your own is given by its path")
    url, checksum = SOURCES[dataset][name]
    root = os.environ.get("AUTOQ_DATA")
    if root:
        path = Path(root) / dataset / name
        if not path.is_file():
            raise AutoqError(f"data file {path} is missing: AUTOQ_DATA={root} must hold "
                             f"{dataset}/{name} (see the data README)")
        return path
    path = CACHE / "data" / dataset / name
    if path.is_file() and md5(path) == checksum:
        return path
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            payload = r.read()
    except OSError as e:
        raise AutoqError(f"{dataset}/{name} is not available: set AUTOQ_DATA to a folder holding "
                         f"{dataset}/{name}, or allow a download from {url} ({e})") from None
    if hashlib.md5(payload).hexdigest() != checksum:
        raise AutoqError(f"{dataset}/{name} downloaded from {url} has the wrong md5 "
                         f"(expected {checksum}); set AUTOQ_DATA to a verified copy")
    write_atomic(path, payload)
    return path


def user_file(spec: str | Path, what: str) -> Path:
    """A user's data file: ``spec`` resolved against the current directory; it must exist."""
    if isinstance(spec, int) and not isinstance(spec, bool):
        spec = str(spec)  # a file named by digits, read from the command line as a number
    if not isinstance(spec, (str, os.PathLike)):
        raise AutoqError(f"{what}: {spec!r} is not a file's path")
    path = Path(spec).expanduser()
    path = path if path.is_absolute() else Path.cwd() / path
    if not path.is_file():
        raise AutoqError(f"{what}: no file {path}" + (" (a folder)" if path.is_dir() else ""))
    return path


def read_text(path: Path, what: str) -> str:
    """The text of a UTF-8 file, gunzipped if its name ends in .gz; a BOM is dropped and
    line ends (CRLF, CR) become \\n. ``what`` names the file in a message."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise AutoqError(f"{what} {path}: {size / 2 ** 20:.0f} MiB is too large "
                             f"(allowed: up to {MAX_BYTES // 2 ** 20} MiB)")
        raw = path.read_bytes()
        if path.name.endswith(".gz"):
            raw = gzip.decompress(raw)
    except (OSError, EOFError) as e:  # unreadable, or not (whole) gzip data
        raise AutoqError(f"{what} {path}: cannot read it ({getattr(e, 'strerror', None) or e})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise AutoqError(f"{what} {path}: not UTF-8 text (line {line}, byte {e.start})") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def source_label(names: Sequence[str], digest: str, builtin: dict[str, tuple[tuple[str, ...], str]]) -> str:
    """How a score's signature names the data it was scored on: the built-in label whose
    file names and content digest both match (``builtin``: label -> (names, digest)), else
    ``split=file:NAMES@sha256:DIGEST``, so that scores of different files never pair."""
    for label, (known, known_digest) in builtin.items():
        if tuple(names) == known and digest == known_digest:
            return label
    return f"split=file:{','.join(names)}@sha256:{digest}"
