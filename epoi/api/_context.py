"""What every route works with: the settings, the store and the clock of the process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from fastapi import Request

from ..config import Settings
from ..store import Store


@dataclass(frozen=True, slots=True)
class Context:
    settings: Settings
    store: Store
    clock: Callable[[], datetime]


def context(request: Request) -> Context:
    return request.app.state.epoi  # type: ignore[no-any-return]
