"""The ``epoi`` group loads a command's module only when that command is run or its own
help is asked for: ``epoi validate`` then imports the parsers and the transforms, not the
store, the matcher, alembic or the HTTP service (issue 14: start-up was ~0.75 s of it).

``epoi --help`` lists every command from ``COMMANDS`` without importing any module; a test
holds each summary to the command's own docstring (tests/test_cli_lazy.py)."""

from __future__ import annotations

import importlib

import click

__all__ = ["COMMANDS", "LazyGroup"]

# command -> (the module of this package that registers it on ``main``, its summary: the
# first sentence of its docstring, as click would shorten it)
COMMANDS: dict[str, tuple[str, str]] = {
    "acks": ("_status", "Write the TA1, 997 and error-return 811 of a submission, with the "
                        "control numbers they were sent with."),
    "carriers": ("_intake", "Trading-partner profiles: name, NAIC code, ISA sender, test or "
                            "production."),
    "db": ("_intake", "The database schema."),
    "dead": ("_status", "Units of work that kept failing, parked in the dead-letter queue."),
    "matches": ("_matching", "One row per reported vehicle (and per vehicle a fleet policy "
                             "covers): carrier NAIC, policy number, reported VIN, matched plate "
                             "and VIN (empty if none), step, state (matched, pending, unmatched, "
                             "ambiguous)."),
    "registrations": ("_matching", "The state's registration records."),
    "renewals": ("_matching", "Renewal clearance."),
    "report": ("_report", "Reports for auditors and carriers: HTML, CSV or JSON with the same "
                          "numbers."),
    "reprocess": ("_run", "Run SUBMISSION again from its archived original, through every "
                          "stage, in this process."),
    "run": ("_run", "Submit FILES, then process everything queued to the end in this process."),
    "sample": ("_sample", "Write realistic synthetic 811 files, registrations.csv, "
                          "ground_truth.csv and carriers.csv (the sample's carriers, for `epoi "
                          "carriers import`)."),
    "serve": ("_serve", "Serve the HTTP API: carriers submit and read their acks, the renewal "
                        "system checks coverage, auditors read reports."),
    "status": ("_status", "Where each submission stands: lineage state, counts, units of work, "
                          "acks."),
    "submit": ("_intake", "Archive FILES, record them, validate them and write their TA1 and "
                          "997."),
    "suspensions": ("_matching", "Suspension candidates: vehicles whose matched coverage was "
                                 "cancelled with no replacement within the window (settings: "
                                 "suspension_window_days) and whose registration is still "
                                 "valid."),
    "tokens": ("_serve", "Bearer tokens of the HTTP service: issued (shown once), listed, "
                         "revoked."),
    "validate": ("_validate", "Parse and validate FILES without storing anything."),
    "verify": ("_matching", "Is the vehicle VIN insured on the day: by which carrier, policy "
                            "and report."),
    "worker": ("_run", "A long-running worker for the scale-out setup; SIGTERM stops it after "
                       "the unit in hand."),
}


class LazyGroup(click.Group):
    """A click group whose commands in ``COMMANDS`` register themselves when their module is
    first imported (click's documented lazy-loading pattern, keyed by module)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            importlib.import_module(f"{__package__}.{COMMANDS[cmd_name][0]}")
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """click's own listing, the summaries of commands not loaded taken from COMMANDS."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = []
        for name in names:
            # A command not loaded stands in as one with its summary for help, shortened
            # as click shortens any command's.
            cmd = self.commands.get(name) or click.Command(name, help=COMMANDS[name][1])
            if not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)
