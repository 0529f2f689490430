"""What a stage just committed, kept in memory for the next stage of the same process
(``_Handoff``): a normalize unit's stored records for its match unit, and each chunk's part
of its transaction set's error return.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from ..schemas.policy import NormalizedRecord

# A chunk's part of its set's error return: first position of each jurisdiction, and its
# rejected and warned records.
_SetPart = tuple[dict[str, int], list[NormalizedRecord]]


def return_part(records: Sequence[NormalizedRecord]) -> _SetPart:
    """A chunk's part of its set's error return: the first position of each jurisdiction,
    and its rejected and warned records without their insureds."""
    places: dict[str, int] = {}
    returned: list[NormalizedRecord] = []
    for r in records:
        j, pos = r.report.jurisdiction, r.report.key.policy_position
        if j and pos < places.get(j, pos + 1):
            places[j] = pos
        if r.status != "accepted":
            # The error return echoes no insured's personal data: not kept.
            report = r.report.model_copy(update={"insureds": ()})
            returned.append(r.model_copy(update={"report": report}))
    return places, returned


class _Handoff:
    """What a stage just committed, kept in memory for the next stage of the same process,
    so that nothing is read back from the store to be passed on.

    - match units: the records (with their report ids) a normalize unit stored, taken by the
      match unit of the same chunk.  Bounded: the oldest entries go first, and a match unit
      that finds nothing here reads its records from the store, as after a crash or on
      another worker.
    - error returns: per transaction set, each chunk's rejected and warned records and the
      first position of each jurisdiction, for the set's error return when its last chunk is
      done.  Used only when every chunk of the set was normalised here since the start.

    Filled only after the unit's commit (``note_chunk`` returns the step to call then), so a
    rolled-back attempt leaves nothing behind."""

    MAX_UNITS = 256
    MAX_SETS = 64

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._match: OrderedDict[str, tuple[list[tuple[int, NormalizedRecord]], Any]] = (
            OrderedDict())
        self._sets: OrderedDict[int, dict[str, _SetPart]] = OrderedDict()

    def put(self, match_unit: str, records: list[tuple[int, NormalizedRecord]],
            prepared: Any = None) -> None:
        """``prepared``: the match hook's cascade of these records, worked out ahead."""
        with self._lock:
            self._match[match_unit] = (records, prepared)
            while len(self._match) > self.MAX_UNITS:
                self._match.popitem(last=False)

    def take(self, match_unit: str) -> tuple[list[tuple[int, NormalizedRecord]] | None, Any]:
        """The records (None: not in hand) and what was prepared for them."""
        with self._lock:
            return self._match.pop(match_unit, (None, None))

    def note_chunk(
        self, set_id: int, unit_key: str, records: Sequence[NormalizedRecord]
    ) -> _ChunkNote:
        """What the set's error return needs of this chunk; kept by the note's ``commit``
        (called after the unit's commit)."""
        return self.note_part(set_id, unit_key, *return_part(records))

    def note_part(self, set_id: int, unit_key: str, places: dict[str, int],
                  returned: list[NormalizedRecord]) -> _ChunkNote:
        """``note_chunk`` of a chunk's ``return_part`` worked out already."""
        return _ChunkNote(self, set_id, unit_key, places, returned)

    def _keep(self, note: _ChunkNote) -> None:
        with self._lock:
            self._sets.setdefault(note.set_id, {})[note.unit_key] = (note.places, note.returned)
            while len(self._sets) > self.MAX_SETS:
                self._sets.popitem(last=False)

    def set_return(
        self, note: _ChunkNote, chunks_total: int
    ) -> tuple[list[str], list[NormalizedRecord]] | None:
        """The set's jurisdictions (in order of appearance) and its rejected or warned
        records in set order, when every chunk is in hand: this unit's (noted, not yet
        committed) and the others'.  None otherwise.  The set's entry is dropped: the set's
        return is written by this unit (or, after a rollback, read from the store)."""
        note.done = True  # the set is finished: nothing to keep of this chunk
        with self._lock:
            chunks = dict(self._sets.pop(note.set_id, {}))
        chunks[note.unit_key] = (note.places, note.returned)
        if len(chunks) != chunks_total:
            return None
        first: dict[str, int] = {}
        records: list[NormalizedRecord] = []
        for p, r in chunks.values():
            for j, pos in p.items():
                if pos < first.get(j, pos + 1):
                    first[j] = pos
            records += r
        records.sort(key=lambda r: r.report.key.policy_position)
        return sorted(first, key=first.__getitem__), records


@dataclasses.dataclass(slots=True)
class _ChunkNote:
    handoff: _Handoff
    set_id: int
    unit_key: str
    places: dict[str, int]
    returned: list[NormalizedRecord]
    done: bool = False

    def commit(self) -> None:
        if not self.done:
            self.handoff._keep(self)
