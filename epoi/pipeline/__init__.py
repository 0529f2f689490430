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
- ``open_store(settings)`` / ``open_broker(settings)``: the store (migrated, or checked to
  be, as EPOI_DATABASE_URL says) and the broker a command or the HTTP service works on.
- ``publish_queued(store, settings, submission_ids)``: hand a submission's queued units to
  the workers when a broker is configured (``epoi submit``, ``POST /v1/submissions``);
  ``replay_dead_letters(store, broker, ids, now=)``: ``epoi dead replay``.
- status documents (``_status``): ``carrier_scope``, ``submission_in_scope``,
  ``submissions_in_scope``, ``submission_doc``, ``status_overview``, ``ack_files`` /
  ``AckFile``, ``profile_rejections``.
- carrier profiles (``_carriers``): ``register_carrier``, ``carrier_docs``,
  ``carrier_profile``, ``certify_carrier``, ``import_carriers``.
"""

from ._carriers import (
    CarrierImport,
    carrier_docs,
    carrier_profile,
    certify_carrier,
    import_carriers,
    register_carrier,
)
from ._open import open_broker, open_store
from ._queueing import publish_queued, replay_dead_letters
from ._reprocess import reprocess, verify_archive
from ._run import RunSummary, run, serve, summarize
from ._stages import MatchHook, Pipeline, Progress, no_matching
from ._status import (
    AckFile,
    ack_files,
    carrier_scope,
    profile_rejections,
    status_overview,
    submission_doc,
    submission_in_scope,
    submissions_in_scope,
)

__all__ = [
    "AckFile",
    "CarrierImport",
    "MatchHook",
    "Pipeline",
    "Progress",
    "RunSummary",
    "ack_files",
    "carrier_docs",
    "carrier_profile",
    "carrier_scope",
    "certify_carrier",
    "import_carriers",
    "no_matching",
    "open_broker",
    "open_store",
    "profile_rejections",
    "publish_queued",
    "register_carrier",
    "replay_dead_letters",
    "reprocess",
    "run",
    "serve",
    "status_overview",
    "submission_doc",
    "submission_in_scope",
    "submissions_in_scope",
    "summarize",
    "verify_archive",
]
