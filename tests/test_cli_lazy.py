"""The command line loads a command's module only when it is needed (epoi/cli/_lazy.py):
``epoi validate`` and ``epoi --help`` start without the store, the matcher or the service,
and ``epoi --help`` still lists every command with its own summary."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from epoi.cli import main
from epoi.cli._lazy import COMMANDS

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("sqlalchemy", "alembic", "fastapi", "epoi.store", "epoi.matching", "epoi.intake",
         "epoi.pipeline")


def _loaded_after(args: list[str]) -> set[str]:
    code = (
        "import sys\n"
        "from epoi.cli import main\n"
        "try:\n"
        f"    main({args!r}, prog_name='epoi')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('\\n'.join(sys.modules), file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, check=True)
    return set(done.stderr.split())


@pytest.mark.parametrize("args", [["--help"], ["validate", "--help"]])
def test_help_and_validate_do_not_load_the_store(args: list[str]) -> None:
    loaded = _loaded_after(args)
    assert not [m for m in HEAVY if m in loaded]


def test_every_command_is_in_the_table_with_its_own_summary() -> None:
    ctx = click.Context(main)
    for name in COMMANDS:
        assert main.get_command(ctx, name) is not None, name
    assert set(main.commands) == set(COMMANDS)  # nothing registered that --help would miss
    for name, cmd in main.commands.items():
        for limit in (30, 45, 60, 80, 200):
            summary = click.Command(name, help=COMMANDS[name][1])  # as --help shortens it
            assert summary.get_short_help_str(limit) == cmd.get_short_help_str(limit), \
                (name, limit)  # fmt: skip


def test_help_lists_every_command() -> None:
    out = CliRunner().invoke(main, ["--help"]).output
    listed = out.split("Commands:")[1].split()
    assert all(name in listed for name in COMMANDS)
