"""An installed autoq (not editable) carries its built-in spaces and seed recipes, and
finds them from any folder."""
import subprocess
import sys
import zipfile
from pathlib import Path

from autoq.cli import default_space
from autoq.search.space import SearchSpace

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_ships_the_spaces_and_their_seeds(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path)], check=True, capture_output=True)
    names = zipfile.ZipFile(next(tmp_path.glob("autoq-*.whl"))).namelist()
    for f in ("gnmt-multi30k.yaml", "minilm-mrpc.yaml", "gnmt_distiller_seed.yaml", "minilm_dynamic_int8.yaml"):
        assert f"autoq/search_spaces/{f}" in names


def test_the_default_space_is_found_from_another_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for task in ("gnmt-multi30k", "minilm-mrpc"):
        space = SearchSpace.load(default_space(task))
        assert space.seeds and Path(default_space(task)).is_relative_to(ROOT / "autoq")
