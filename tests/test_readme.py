"""The README's own path, run as written: every command block in order, in a fresh copy of
the repository in a temporary folder, with its own virtual environment, and small budgets
in place of the trial counts. Fails when a command fails, or when anything writes into the
repository's committed results/.

The README's test command (`python3 -m pytest`) is what runs this file, so it is skipped.
The own-model section needs a model and data files; they are made here, as a user has them.
"""
from __future__ import annotations

import hashlib
import shlex
import os
import re
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()

# what the test runs in place of the README's budgets (each must be found, or the test fails)
SUBSTITUTE = {
    "--n-trials 100": "--n-trials 3 --ladder 2 --front-size 3",
    "--space my_space.yaml --max-drop 0.01": "--space my_space.yaml --max-drop 0.01 --n-trials 4",
}


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def commands() -> list[str]:
    out = []
    for block in blocks("bash"):
        for line in block.splitlines():
            line = line.split("  #")[0].strip() if not line.lstrip().startswith("#") else ""
            if line and not line.endswith("python3 -m pytest"):
                out.append(line)
    return out


def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(folder)).encode() + f.read_bytes())
    return h.hexdigest()


def copy_repo(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.splitlines()
    for name in files:
        src = ROOT / name
        if src.is_file() and not src.is_symlink():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            (dest / name).write_bytes(src.read_bytes())
        elif src.is_symlink():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            (dest / name).symlink_to(os.readlink(src))


def user_files(folder: Path) -> None:
    """What the own-model section's mytask.py reads: a small trained classifier and data."""
    torch.manual_seed(0)
    x = torch.randn(1600, 16)
    y = (x[:, :4].sum(1) > 0).long() + (x[:, 4] > 1).long()
    model = nn.Sequential(OrderedDict(fc1=nn.Linear(16, 64), act1=nn.ReLU(), fc2=nn.Linear(64, 64),
                                      act2=nn.ReLU(), fc3=nn.Linear(64, 3)))
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(200):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[:1000]), y[:1000]).backward()
        opt.step()
    torch.save(model.eval(), folder / "model.pt")
    torch.save(x[:256], folder / "calib.pt")
    torch.save(torch.randn(2048, 16), folder / "unlabelled.pt")
    torch.save((x[1000:1300], y[1000:1300]), folder / "search.pt")
    torch.save((x[1300:], y[1300:]), folder / "confirm.pt")


def test_the_substitutions_still_match_the_readme():
    text = "\n".join(blocks("bash"))
    for old in SUBSTITUTE:
        assert old in text, f"the README no longer says {old!r}: update SUBSTITUTE"
    assert len(blocks("python")) == 1 and len(blocks("yaml")) == 1


@pytest.mark.skipif(not (Path(os.environ.get("AUTOQ_DATA", "")) / "mrpc").is_dir(),
                    reason="needs AUTOQ_DATA (Multi30k and MRPC)")
def test_the_readme_runs_as_written(tmp_path):
    repo, shared = tmp_path / "autoq", tmp_path / "shared"
    copy_repo(repo)
    shared.mkdir()
    (shared / "data").symlink_to(Path(os.environ["AUTOQ_DATA"]).resolve())
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(tmp_path / "venv")],
                   check=True)
    user_files(repo)
    (repo / "mytask.py").write_text(blocks("python")[0])
    (repo / "my_space.yaml").write_text(blocks("yaml")[0])
    before = digest(ROOT / "results"), digest(repo / "results")
    env = {k: v for k, v in os.environ.items() if k not in ("AUTOQ_DATA", "PYTHONPATH")}
    env["PATH"] = f"{tmp_path / 'venv' / 'bin'}:{env['PATH']}"
    script = []
    for line in commands():
        for old, new in SUBSTITUTE.items():
            line = (line + "\n").replace(old, new).strip()
        script.append(f"{{ {line} ; }} || exit 1")  # an && chain that fails ends the run too
        script.append(f"echo {shlex.quote(line)} $SECONDS >> {tmp_path / 'timings.txt'}")
    r = subprocess.run(["bash", "-exc", "\n".join(script)], cwd=repo, env=env, capture_output=True,
                       text=True, timeout=3600)
    print((tmp_path / "timings.txt").read_text() if (tmp_path / "timings.txt").exists() else "")
    assert r.returncode == 0, f"{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
    assert (digest(ROOT / "results"), digest(repo / "results")) == before, \
        "a README command wrote into the committed results/"
    assert (repo / "my-results" / "minilm-mrpc" / "picked.yaml").is_file()
    assert (repo / "my-results" / "minilm-mrpc" / "report.html").is_file()
    assert (repo / "deployed" / "deploy.json").is_file()
    installed = subprocess.run(["python3", "-c", "import autoq; print(autoq.__file__)"], env=env,
                               cwd="/", capture_output=True, text=True).stdout
    assert installed.startswith(str(repo)), installed  # the venv's autoq is the fresh copy
