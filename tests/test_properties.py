"""Hypothesis properties of the whole front end (issue 2): any file `epoi sample` makes is
accepted; any mutation of one yields coded findings and acks, never an uncaught exception."""

from __future__ import annotations

import io
import itertools
import re
from datetime import UTC, date, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from epoi.parsers import ValidationOptions, iter_policies, validate, write_acks
from epoi.parsers._acks import answerable
from epoi.sample import FaultOptions, generate
from epoi.transforms import EditContext, normalize

CREATED = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
_SAMPLES: dict[tuple[int, int], bytes] = {}


def _sample(tmp: Path, seed: int, policies: int) -> bytes:
    """One sample file's bytes, generated once per (seed, size)."""
    key = (seed, policies)
    if key not in _SAMPLES:
        out = tmp / f"s{seed}-{policies}"
        generate(policies, out, today=date(2026, 11, 27), seed=seed, carriers=1,
                 faults=FaultOptions(vin_typos=0.0))
        _SAMPLES[key] = next(out.glob("*.x12")).read_bytes()
    return _SAMPLES[key]


def _acks(verdict):
    counter = itertools.count(1)
    return list(write_acks(verdict, lambda carrier, kind: next(counter), sender_qualifier="ZZ",
                           sender_id="EPOISTATE", application_code="EPOISTATE", created=CREATED))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), policies=st.integers(1, 12))
def test_any_generated_file_is_accepted_and_answered(tmp_path, seed, policies):
    data = _sample(tmp_path, seed, policies)
    verdict = validate(io.BytesIO(data), name="gen.x12", options=ValidationOptions())
    assert verdict.accepted and verdict.error is None
    sets = [ts for ic in verdict.interchanges for g in ic.groups for ts in g.transaction_sets]
    assert sum(ts.policies for ts in sets) == policies
    acks = _acks(verdict)
    assert [a.kind for a in acks].count("997") == sum(len(ic.groups) for ic in verdict.interchanges)
    context = EditContext(received_at=CREATED, today=CREATED.date())
    records = [normalize(b, context=context)
               for b in iter_policies(io.BytesIO(data), verdict, name="g")]
    assert len(records) == policies


_SEG = re.compile(rb"[^~]*~\r?\n?")


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 50), ops=st.lists(st.tuples(
    st.sampled_from(["drop", "dup", "swap", "char", "cut"]), st.integers(0, 10_000),
    st.sampled_from(list(b"~*:0A9 \n\x00\xff"))), min_size=1, max_size=4))
def test_any_mutated_file_gets_coded_findings_and_an_ack(tmp_path, seed, ops):
    segments = _SEG.findall(_sample(tmp_path, seed, 3))
    for op, at, byte in ops:
        i = at % len(segments)
        if op == "drop" and len(segments) > 1:
            del segments[i]
        elif op == "dup":
            segments.insert(i, segments[i])
        elif op == "swap" and i + 1 < len(segments):
            segments[i], segments[i + 1] = segments[i + 1], segments[i]
        elif op == "char" and segments[i]:
            s = bytearray(segments[i])
            s[at % len(s)] = byte
            segments[i] = bytes(s)
        elif op == "cut":
            segments[i] = segments[i][: at % (len(segments[i]) + 1)]
            del segments[i + 1:]
    data = b"".join(segments)
    verdict = validate(io.BytesIO(data), name="mut.x12", options=ValidationOptions())
    if verdict.accepted:
        return  # a mutation can leave a valid file (a changed name, a duplicated NTE ...)
    sets = [ts for ic in verdict.interchanges for g in ic.groups for ts in g.transaction_sets]
    coded = (
        verdict.error is not None
        or any(ic.ta1.ack_code != "A" for ic in verdict.interchanges)
        or any(g.ack_code != "A" and g.error_codes
               for ic in verdict.interchanges for g in ic.groups)
        or any(ts.ack_code != "A" and (ts.error_codes or ts.errors) for ts in sets)
    )
    assert coded, verdict.model_dump_json()
    if any(answerable(ic) for ic in verdict.interchanges):
        assert _acks(verdict), "a readable rejected interchange is always answered"
