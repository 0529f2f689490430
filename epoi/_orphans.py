"""Worker processes that end with the process that started them.

A ``ProcessPoolExecutor``'s worker waits for its next task on a pipe whose write end it
holds itself (the call queue crosses to it whole), so it never sees end-of-file: when its
parent is killed (``kill -9`` of ``epoi run``, an out-of-memory kill) it would wait forever,
with its memory and its open database connection.  Each worker therefore watches its
parent and exits once it is gone (its parent id changes: it was adopted)."""

from __future__ import annotations

import os
import threading
import time

from ._gc import tune_for_batch

__all__ = ["batch_worker_init", "exit_with_parent"]

POLL_SECONDS = 1.0


def exit_with_parent(parent: int) -> None:
    """Exit this process, at once, within ``POLL_SECONDS`` of ``parent`` ending."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(POLL_SECONDS)
        os._exit(1)  # no clean-up: its parent's work is gone already

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def batch_worker_init(parent: int) -> None:
    """A batch worker process's initializer: the collector tuned for batch work, and the
    process bound to its parent's life."""
    tune_for_batch()
    exit_with_parent(parent)
