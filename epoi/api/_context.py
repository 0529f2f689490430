"""What every route works with: the settings, the store and the clock of the process, and
the per-process state of the hot routes (the token cache, the coverage reader)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from fastapi import Request

from ..config import Settings
from ..store import Store

if TYPE_CHECKING:
    from ._auth import TokenCache
    from ._reader import CoverageReader


@dataclass(frozen=True, slots=True)
class Context:
    settings: Settings
    store: Store
    clock: Callable[[], datetime]
    tokens: TokenCache
    coverage: CoverageReader


def context(request: Request) -> Context:
    return request.app.state.epoi
