"""The command line: thin.  Parse arguments, call the library, print.

``main`` is the ``epoi`` click group; ``entry`` runs it as a process of its own (the console
script ``epoi = epoi.cli:entry`` and ``python -m epoi``), with the collector set for batch
work (``epoi._gc``); tests invoke ``main`` in their own process, whose collector is theirs.
Each command group lives in a module of its own that registers on ``main`` (``_app``) when
imported, which ``main`` does the first time one of its commands
is needed (``_lazy``: ``epoi validate`` loads no store); none of them imports this package,
so there is no import circle, and none runs SQL: the queries are the library's (``epoi.pipeline``,
``epoi.matching``, ``epoi.reports``).

- ``_intake``: ``submit``, ``carriers add|list|show|import|certify``, ``db upgrade``
- ``_run``: ``run``, ``reprocess``, ``worker``
- ``_status``: ``status``, ``acks``, ``dead list|replay``
- ``_validate``: ``validate`` (its second pass on worker processes: ``_second_pass``);
  ``_sample``: ``sample``; ``_report``: ``report ...``
- ``_matching``: ``registrations load``, ``renewals clear``, ``suspensions``, ``verify``,
  ``matches``
- ``_serve``: ``serve``, ``tokens issue|list|revoke``

Exit codes (cli.md): 0 success; 1 input processed but something was rejected or did not
match; 2 usage or configuration error; 3 internal failure (logged, no traceback).
"""

# The command modules register their commands on ``main`` when ``main`` first needs them
# (``_lazy``): a command imports only what it uses.
from .._gc import tune_for_batch
from ._app import EXIT_INTERNAL, EXIT_OK, EXIT_REJECTED, EXIT_USAGE, echo_json, guarded, main

__all__ = ["EXIT_INTERNAL", "EXIT_OK", "EXIT_REJECTED", "EXIT_USAGE", "echo_json", "entry",
           "guarded", "main"]


def entry() -> None:
    """``epoi`` as a process of its own."""
    tune_for_batch()
    main(prog_name="epoi")
