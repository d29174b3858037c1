"""Where data sets come from: $AUTOQ_DATA, else a checksummed download cache."""
from __future__ import annotations

import hashlib
import os
import urllib.request
from pathlib import Path

from ..errors import AutoqError
from ..io import write_atomic

CACHE = Path(os.environ.get("AUTOQ_CACHE", Path.home() / ".cache" / "autoq"))

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
