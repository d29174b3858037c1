"""A new user's first commands, timed: a fresh clone, the README's set-up command in its
own virtual environment (install, then the demo), and a non-editable `pip install .` in a
second environment whose `autoq search` runs from an unrelated folder and finds the
built-in default space.

    python -m benchmarks.new_user --out results/bench/new_user.md

Both environments see the machine's site packages (torch's CPU wheel is not copied twice);
`pip install torch==2.13.0 -e .` still runs as the README writes it. Needs AUTOQ_DATA.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autoq.io import write_atomic

ROOT = Path(__file__).resolve().parents[1]
SETUP = "python3 -m pip install torch==2.13.0 -e . && export AUTOQ_DATA=$PWD/../shared/data && autoq demo"
SEARCH = "autoq search --task gnmt-multi30k --n-trials 2 --ladder 1 --front-size 2 --results results"


def timed(cmd: str, cwd: Path, venv: Path, data: bool = True) -> tuple[float, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and (data or k != "AUTOQ_DATA")}
    env["PATH"] = f"{venv / 'bin'}:{env['PATH']}"
    start = time.perf_counter()
    r = subprocess.run(["bash", "-c", cmd], cwd=cwd, env=env, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"{cmd!r} failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
    return time.perf_counter() - start, r.stdout + r.stderr


def venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(path)], check=True)
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    out = Path(p.parse_args().out)
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        subprocess.run(["git", "clone", "-q", str(ROOT), str(tmp / "autoq")], check=True)
        clone_s = time.perf_counter() - start
        (tmp / "shared").mkdir()
        (tmp / "shared" / "data").symlink_to(Path(os.environ["AUTOQ_DATA"]).resolve())
        setup_s, _ = timed(SETUP, tmp / "autoq", venv(tmp / "a"), data=False)  # as the README says
        b = venv(tmp / "b")
        install_s, _ = timed(f"python3 -m pip install -q --no-deps {tmp / 'autoq'}",
                             tmp, b)
        (tmp / "elsewhere").mkdir()
        _, where = timed("python3 -c 'from autoq.cli import default_space; "
                         "print(default_space(\"gnmt-multi30k\"))'", tmp / "elsewhere", b)
        where = where.strip().splitlines()[-1]
        search_s, log = timed(SEARCH, tmp / "elsewhere", b)
        if not where.startswith(str(b)) or "front" not in log:
            sys.exit(f"the installed autoq did not use its own space: {where}\n{log[-2000:]}")
    write_atomic(out, f"""# A new user's first commands, timed

Made by `python -m benchmarks.new_user --out {out}` at commit {rev} on this project's
2-core CPU, the machine to itself: a fresh `git clone` with the data folder beside it, then each command in its own
virtual environment (with the machine's site packages, so torch's wheel is not copied
again). The README's second set-up command, the test suite, is timed by CI itself.

| step | seconds |
|---|---|
| `git clone` | {clone_s:.1f} |
| `{SETUP}` (the README's first command, demo included) | {setup_s:.0f} |
| `pip install .` (not editable) in a second environment | {install_s:.0f} |
| from another folder, `{SEARCH}` | {search_s:.0f} |

The installed autoq's default space for gnmt-multi30k was its own package data:
`{where.replace(str(b), '<venv>')}`.
""")
    print(f"written: {out}")


if __name__ == "__main__":
    main()
