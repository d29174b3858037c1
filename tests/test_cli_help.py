"""Every command's help: each option explained, an example at the end, the environment
variables in the top-level help."""
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
