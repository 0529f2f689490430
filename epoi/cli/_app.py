"""The ``epoi`` group every command module registers on, and what they share: the exit
codes, ``guarded``, the settings, the store of a command, JSON and table output, and the
progress display on stderr.

Exit codes (cli.md): 0 success; 1 input processed but something was rejected or did
not match; 2 usage or configuration error; 3 internal failure (logged, no traceback).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Self

import click
from pydantic import ValidationError

from .. import _logging
from ..config import Settings
from ..errors import ConfigError, EpoiError
from ._lazy import LazyGroup

if TYPE_CHECKING:  # imported where used: `epoi validate` needs no store (_lazy)
    from ..queues import Broker
    from ..store import Store

EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


def current_settings() -> Settings:
    """The settings ``main`` read from the EPOI_* variables for this command."""
    ctx = click.get_current_context()
    return ctx.find_root().obj["settings"]


@contextmanager
def command_store() -> Iterator[Store]:
    """The store of this command (``epoi.pipeline.open_store``), disposed of at the end."""
    from ..pipeline import open_store

    store = open_store(current_settings())
    try:
        yield store
    finally:
        store.dispose()


def command_broker() -> Broker:
    """The broker of this command (a context manager: closed at the end)."""
    from ..pipeline import open_broker

    return open_broker(current_settings())


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn epoi errors into their exit codes and bugs into exit 3 with a logged trace."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BrokenPipeError:  # reader went away (| head): not our failure
            sys.stdout = None  # no flush at exit
            sys.exit(EXIT_OK)
        except EpoiError as exc:
            click.echo(f"epoi: {exc}", err=True)
            sys.exit(exc.exit_code if exc.exit_code != EXIT_INTERNAL else EXIT_INTERNAL)
        except Exception as exc:  # a bug: short message, trace to a file
            incident = _logging.record_incident(lambda: current_settings().ensure_home(), exc,
                                                logger="epoi.cli")  # fmt: skip
            click.echo(f"epoi: internal error {incident.id} ({type(exc).__name__}); "
                       f"{incident.where}", err=True)  # fmt: skip
            sys.exit(EXIT_INTERNAL)

    return wrapper


def echo_json(doc: Any) -> None:
    click.echo(json.dumps(doc, indent=2, default=str))


def print_table(table: Any) -> None:
    """A rich table: fitted to the window on a terminal; whole values elsewhere (a pipe, a
    file), where rich would otherwise cut every cell to fit 80 columns."""
    from rich.console import Console

    console = Console(soft_wrap=True)
    if not console.is_terminal:
        natural = Console(width=1_000_000).measure(table).maximum
        console = Console(soft_wrap=True, width=max(natural, 1))
    console.print(table)


class StderrProgress:
    """A transient rich progress display on stderr, started and stopped as a context
    manager; nothing at all until ``show`` is called (not a terminal: cli.md, quiet when
    piped).  Subclasses decide when to show it and what advances it."""

    def __init__(self) -> None:
        self.progress: Any = None
        self.task: Any = None

    def show(self, description: str, total: int | None, *columns: Any) -> None:
        """Display a task ``description`` in ``columns`` (as ``rich.progress.Progress``
        takes them) from the start of the ``with`` block."""
        from rich.console import Console
        from rich.progress import Progress

        self.progress = Progress(*columns, console=Console(stderr=True), transient=True)
        self.task = self.progress.add_task(description, total=total)

    def __enter__(self) -> Self:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--log-level", default="WARNING", show_default=True, help="log level on stderr")
@click.version_option(package_name="epoi")
@click.pass_context
def main(ctx: click.Context, log_level: str) -> None:
    """epoi: the state's e-POI pipeline for X12 811 insurance reports.

    \b
    Example:
      epoi run sample_edi/*.x12 --registrations sample_edi/registrations.csv
    """
    _logging.configure(log_level.upper())
    try:
        ctx.obj = {"settings": Settings()}
    except Exception as exc:  # pydantic validation of EPOI_* variables
        click.echo(f"epoi: {_settings_error(exc)}", err=True)
        ctx.exit(EXIT_USAGE)


def _settings_error(exc: Exception) -> ConfigError:
    """One line naming each bad EPOI_ variable and its cause (pydantic's own report spans
    several lines and quotes the value, which for a database URL may hold a password)."""
    if isinstance(exc, ValidationError):
        causes = [
            f"EPOI_{str(err['loc'][0]).upper() if err['loc'] else '?'}: "
            + err["msg"].removeprefix("Value error, ")
            for err in exc.errors()
        ]
        return ConfigError("CONFIG", "; ".join(causes))
    first_line = (str(exc).splitlines() or [type(exc).__name__])[0]
    return ConfigError("CONFIG", f"cannot read the EPOI_ settings: {first_line}")
