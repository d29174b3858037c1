"""The command line: every option explained, an example at the end of each command's
help, the environment variables in the top-level help; a module listing for spaces."""
import argparse

from autoq.cli import build_parser


def subparsers(parser):
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def test_every_option_has_help_and_every_command_an_example():
    parser = build_parser()
    assert "AUTOQ_DATA" in parser.format_help() and "AUTOQ_CACHE" in parser.format_help()
    missing = []
    for name, sp in subparsers(parser).items():
        assert "example" in (sp.epilog or "").lower(), name
        for a in sp._actions:
            if not isinstance(a, argparse._HelpAction) and not (a.help or "").strip():
                missing.append(f"{name} {'/'.join(a.option_strings) or a.dest}")
    assert not missing, missing


def test_size_per_layer_without_a_recipe_lists_the_modules_a_space_matches(capsys, monkeypatch):
    import json
    import sys
    from pathlib import Path
    from autoq.cli import main
    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # plugin_task.py found in the current folder
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(Path(__file__).resolve().parents[1]))])
    assert main(["size", "--task", "plugin_task:make_task", "--per-layer"]) == 0
    layers = json.loads(capsys.readouterr().out)["layers"]
    assert layers["embedder"] == {"kind": "Embedding", "fp32_bytes": 50 * 16 * 4}
    assert layers["classifier"]["kind"] == "Linear" and "rnn.cells.0.fc_gate_x" in layers
