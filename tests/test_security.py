"""Security rules that hold for the whole package."""
import re
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "autoq"
SOURCES = {p: p.read_text() for p in PACKAGE.rglob("*.py")}


def test_no_shell_and_no_unsafe_loading():
    for path, text in SOURCES.items():
        assert not re.search(r"shell\s*=\s*True|os\.system\(|os\.popen\(", text), path
        assert not re.search(r"yaml\.load\(|yaml\.unsafe_load|yaml\.Loader\b", text), path
        assert not re.search(r"pickle\.loads?\(", text), path
        for call in re.findall(r"torch\.load\([^)]*\)", text):
            assert "weights_only=True" in call, (path, call)


def test_task_code_is_imported_only_when_named():
    code = ("import sys, autoq, autoq.cli, autoq.tasks\n"
            "autoq.cli.build_parser().parse_args(['eval', '--task', 'x'])\n"
            "print([m for m in sys.modules if m.startswith('autoq.tasks.') and m.count('.') > 2])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
