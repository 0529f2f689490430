"""The HTTP service (``epoi serve``): a thin front door over the same library, store and
settings as the command line.

Public API:

- ``create_app(settings, store, clock) -> FastAPI``: the routes of every role.
- ``app_from_env()``: the same, for uvicorn's worker processes (settings from EPOI_*); the
  store is opened as every command opens it (``epoi.pipeline.open_store``: the embedded
  default migrated, a server database checked).
- ``WORKER_LOG_LEVEL``: the variable that hands ``--log-level`` to the worker processes.
- ``ApiError``: an answer other than success, with its HTTP status, code and message.

Routes: carriers ``POST/GET /v1/submissions``, ``GET /v1/submissions/{id}[/acks[/{name}]]``,
``GET /v1/vehicles``; the renewal system ``GET /v1/coverage/{vin}``, ``POST /v1/coverage``;
auditors ``GET /v1/reports/{summary,unmatched,timeliness}``, ``/v1/reports/carrier/{naic}``;
``GET /health``; ``/openapi.json`` and ``/docs``.
"""

from ._app import WORKER_LOG_LEVEL, app_from_env, create_app
from ._errors import ApiError

__all__ = ["WORKER_LOG_LEVEL", "ApiError", "app_from_env", "create_app"]
