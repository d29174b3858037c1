"""--task-arg KEY=VALUE: read as YAML scalars, checked against the factory's signature,
handed to the task by every command that takes --task, and recorded by a search."""
import json
from pathlib import Path

import pytest

from autoq.cli import main
from autoq.errors import AutoqError
from autoq.tasks import get_task
from autoq.tasks.registry import make_spec, scalar, spec_name, task_kwargs

TESTS = Path(__file__).resolve().parents[1]
INT8 = "quantizers:\n  q:\n    class: PostTrainLinearQuantizer\n    bits_activations: 8\n    bits_parameters: 8\n"
SPY = '''
from autoq.errors import AutoqError


def spy(level: int = 0, name: str = "x", flag: bool = False, ratio: float = 0.5):
    raise AutoqError(f"spy got {level!r} {name!r} {flag!r} {ratio!r}")
'''


def test_values_are_yaml_scalars():
    assert [scalar(t) for t in ("3", "-2", "0.25", "1e3", "true", "False")] == [3, -2, 0.25, 1000.0, True, False]
    assert [scalar(t) for t in ("'3'", '"true"', "yes", "#1 String", "", "a=b")] == \
        ["3", "true", "yes", "#1 String", "", "a=b"]


def test_a_spec_holds_the_arguments_as_written():
    spec = make_spec("hf-text-classification", ["model=my dir", "text=#1 String", "seed=2"])
    assert spec == "hf-text-classification 'model=my dir' 'text=#1 String' seed=2"
    assert spec_name(spec) == "hf-text-classification" and make_spec("minilm-mrpc") == "minilm-mrpc"

    def factory(model, text="t", seed=0):
        return None
    assert task_kwargs(spec, factory) == {"model": "my dir", "text": "#1 String", "seed": 2}
    assert task_kwargs(spec, factory, {"seed": 5})["seed"] == 5  # given in code: wins
    with pytest.raises(AutoqError, match=r"takes no argument 'model', 'text' \(its arguments: seed\)"):
        task_kwargs(spec, lambda seed=0: None)
    assert task_kwargs(spec, lambda **kw: None)["seed"] == 2  # **kwargs: anything goes


def test_python_api_takes_the_spec_or_keywords(monkeypatch):
    monkeypatch.chdir(TESTS)
    assert get_task("plugin_task:ChanceTask level=0.5").level == 0.5
    assert get_task("plugin_task:ChanceTask", level=1).level == 1


COMMANDS = {
    "eval": [], "size": [], "stats": ["--out", "s.yaml"], "prepare": [],
    "check": ["--recipe", "int8.yaml"],
    "deploy": ["--recipe", "int8.yaml", "--out", "d"],
    "search": ["--space", str(TESTS / "spaces" / "tiny.yaml"), "--results", "R", "--device", "cpu"],
    "sensitivity": ["--space", str(TESTS / "spaces" / "tiny.yaml"), "--results", "R", "--device", "cpu"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_hands_the_arguments_to_the_task(command, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "spy_task.py").write_text(SPY)
    (tmp_path / "int8.yaml").write_text(INT8)
    argv = [command, "--task", "spy_task:spy", "--task-arg", "level=3", "--task-arg", "name=#1 String",
            "--task-arg", "flag=true", "--task-arg", "ratio=0.1"] + COMMANDS[command]
    assert main(argv) == 2
    assert "spy got 3 '#1 String' True 0.1" in capsys.readouterr().err
    assert not (tmp_path / "R").exists()


def test_a_search_records_its_task_arguments(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(TESTS)
    space = tmp_path / "space.yaml"
    space.write_text((TESTS / "spaces" / "tiny.yaml").read_text().replace("seeds: [tiny_seed.yaml]\n", ""))
    assert main(["search", "--task", "plugin_task:ClosenessTask", "--task-arg", "init_seed=1",
                 "--space", str(space), "--results", str(tmp_path), "--device", "cpu",
                 "--n-trials", "2", "--ladder", "0", "--objective", "metric", "--fidelity", "1"]) == 0
    meta = json.loads((tmp_path / "plugin_task-ClosenessTask" / "search.json").read_text())
    assert meta["task"] == "plugin_task:ClosenessTask init_seed=1"
    assert main(["eval", "--task", meta["task"], "--device", "cpu"]) == 0  # the record rebuilds it
    capsys.readouterr()
