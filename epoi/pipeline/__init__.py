"""The pipeline: the stage handlers over the store, wired to the queues.

Only this package connects the stages (``intake``, ``transforms``, ``matching``) to the store
and the broker (architecture.md).  Units of work and their states live in the store; the
queues carry their keys.

Public API:

- ``Pipeline(store, settings, clock, *, chunk_size=500, match_hook=no_matching, progress=None)``:
  ``.submit(paths)``, ``.handlers(stages)``, ``.queued()``, and the handlers ``.parse``,
  ``.normalize``, ``.match`` (``Envelope -> list[Envelope]``).
- ``run(paths, *, store, settings, clock, ...) -> RunSummary``: ``epoi run``.
- ``serve(*, store, settings, clock, stages, concurrency)``: ``epoi worker``.
- ``summarize(store, submission_ids) -> RunSummary``.
- ``reprocess(submission_id, *, store, settings, clock, ...) -> RunSummary``: ``epoi
  reprocess`` (idempotent); ``verify_archive(path, sha256)``: its ARCHIVE-MISMATCH check.
- ``MatchHook`` / ``no_matching``: where issue 5 plugs the matching cascade in.
"""

from ._reprocess import reprocess, verify_archive
from ._run import RunSummary, run, serve, summarize
from ._stages import MatchHook, Pipeline, Progress, no_matching

__all__ = [
    "MatchHook",
    "Pipeline",
    "Progress",
    "RunSummary",
    "no_matching",
    "reprocess",
    "run",
    "serve",
    "summarize",
    "verify_archive",
]
