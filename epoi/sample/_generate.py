"""``generate``: carriers, their 811 files, the registration file and the ground truth."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date
from pathlib import Path

from ..errors import ConfigError
from . import _people
from ._faults import FaultOptions, MatchingTraps
from ._outputs import Outputs, Place, SampleSummary, write_carriers
from ._records import Carrier
from ._vehicles import PlateFactory, VinFactory
from ._world import CarrierStream
from ._writer import MAX_NAME, InterchangeWriter

MAX_CARRIERS = 20
_PROGRESS_STEP = 1000

_CARRIER_STEMS = (
    "GOLDEN STATE", "PACIFIC CREST", "SIERRA NEVADA", "REDWOOD EMPIRE", "CASCADE", "MISSION BAY",
    "SUNCOAST", "PALOMAR", "YOSEMITE", "TAHOE", "BIG SUR", "EL DORADO", "MONTEREY", "CORONADO",
    "MARIPOSA", "SEQUOIA", "CHANNEL ISLANDS", "ANGELES CREST", "DIABLO", "SHASTA",
)
_CARRIER_KINDS = (
    ("MUTUAL INSURANCE CO", "MUT"), ("CASUALTY CO", "CAS"), ("INDEMNITY CO", "IND"),
    ("AUTO INSURANCE EXCHANGE", "EXCH"), ("FIRE AND CASUALTY CO", "FC"),
    ("GENERAL INSURANCE CO", "GEN"),
)
# What follows each segment terminator.  Real carriers differ: LF, CRLF, or nothing at all.
_LINE_ENDS = ("\n", "\r\n", "\n", "")


def _make_carriers(rng: random.Random, count: int) -> list[Carrier]:
    stems = rng.sample(_CARRIER_STEMS, count)
    naics = rng.sample(range(10000, 99999), count)
    carriers = []
    for i, stem in enumerate(stems):
        fitting = [k for k in _CARRIER_KINDS if len(stem) + 1 + len(k[0]) <= MAX_NAME]
        kind, abbr = rng.choice(fitting)
        carriers.append(Carrier(
            name=f"{stem} {kind}",
            naic=str(naics[i]),
            fein=_people.fein(rng),
            sender_id=(stem.replace(" ", "")[:10] + abbr)[:15],
            policy_prefix="".join(w[0] for w in stem.split()) + abbr[0],
            line_end=_LINE_ENDS[i % len(_LINE_ENDS)],
            asks_ta1=rng.random() < 0.7,
        ))
    return carriers


def _split(rng: random.Random, total: int, parts: int) -> list[int]:
    """Unequal market shares that add up to ``total``."""
    weights = [rng.uniform(0.6, 1.4) for _ in range(parts)]
    s = sum(weights)
    counts = [int(total * w / s) for w in weights]
    for i in range(total - sum(counts)):
        counts[i % parts] += 1
    return counts


def generate(
    policies: int,
    out_dir: Path,
    *,
    today: date,
    seed: int = 0,
    carriers: int = 3,
    faults: FaultOptions = FaultOptions(),
    traps: MatchingTraps = MatchingTraps(),
    policies_per_file: int = 10_000,
    policies_per_set: int = 2_000,
    progress: Callable[[int], None] | None = None,
) -> SampleSummary:
    """Write carrier 811 files, ``registrations.csv``, ``ground_truth.csv`` and
    ``carriers.csv`` (for ``epoi carriers import``) into ``out_dir``.

    The same arguments give byte-identical files: all randomness comes from ``seed`` and the
    only date is ``today`` (report date, envelope dates; coverage dates are relative to it).
    ``progress`` is called with the number of policies written since its last call.
    Raises ``ConfigError`` for impossible arguments."""
    if policies < 1 or policies_per_file < 1 or policies_per_set < 1:
        raise ConfigError("SAMPLE-ARGS", "policies, per file and per set must be at least 1")
    if not 1 <= carriers <= min(MAX_CARRIERS, policies):
        raise ConfigError(
            "SAMPLE-ARGS", f"carriers must be between 1 and {MAX_CARRIERS} and at most policies"
        )
    per_set = min(policies_per_set, policies_per_file)

    rng = random.Random(seed)
    fault_rng = random.Random(f"epoi-sample-faults-{seed}")
    trap_rng = random.Random(f"epoi-sample-matching-traps-{seed}")
    summary = SampleSummary(out_dir=Path(out_dir))
    summary.carriers = _make_carriers(rng, carriers)
    shares = _split(rng, policies, carriers)
    if -(-min(policies_per_file, max(shares)) // per_set) > 999:  # ST02/BIG02 room: 999 sets
        raise ConfigError("SAMPLE-ARGS", "more than 999 sets per file: raise --policies-per-set")
    if -(-max(shares) // policies_per_file) > 9999:  # BIG02 leaves room for 9999 files
        raise ConfigError(
            "SAMPLE-ARGS", "more than 9999 files per carrier: raise --policies-per-file"
        )
    vins, plates = VinFactory(rng), PlateFactory(rng)

    summary.out_dir.mkdir(parents=True, exist_ok=True)
    with (
        open(summary.registrations_file, "w", encoding="utf-8", newline="") as reg,
        open(summary.ground_truth_file, "w", encoding="utf-8", newline="") as truth,
    ):
        out = Outputs(reg, truth, summary)
        for carrier, share in zip(summary.carriers, shares, strict=True):
            stream = CarrierStream(
                carrier, rng=rng, fault_rng=fault_rng, faults=faults, today=today, vins=vins,
                plates=plates, out=out, traps=traps, trap_rng=trap_rng,
            )
            _write_carrier(stream, share, policies_per_file, per_set, rng, fault_rng, out, progress)
    write_carriers(summary)
    return summary


def _write_carrier(
    stream: CarrierStream, share: int, per_file: int, per_set: int, rng: random.Random,
    fault_rng: random.Random, out: Outputs, progress: Callable[[int], None] | None,
) -> None:
    carrier, today, wrong_counts = stream.carrier, stream.today, stream.faults.wrong_counts
    control = rng.randint(1, 900_000_000)  # ISA13 / GS06, one more per file
    remaining, k = share, 0
    while remaining:
        k += 1
        in_file = min(per_file, remaining)
        remaining -= in_file
        control += 1
        path = out.summary.out_dir / f"{carrier.sender_id.lower()}_{today:%Y%m%d}_{k:03d}.x12"
        hhmm = f"{rng.randint(0, 23):02d}{rng.randint(0, 59):02d}"
        unreported = 0
        with open(path, "w", encoding="ascii", newline="", buffering=1 << 20) as fh:
            w = InterchangeWriter(fh, carrier, control=control, when=today, hhmm=hhmm)
            w.begin()
            left, s = in_file, 0
            while left:
                s += 1
                in_set = min(per_set, left)
                left -= in_set
                # BIG02: unique per carrier, at most 22 characters.
                st = w.begin_set(f"{carrier.policy_prefix[:3]}{today:%Y%m%d}-{k:04d}-{s:03d}")
                place = Place(path.name, f"{control:09d}", st, carrier.naic)
                for _ in range(in_set):
                    policy = stream.next_policy()
                    w.write_policy(policy)
                    out.policy(policy, place)
                    unreported += 1
                    if progress is not None and unreported == _PROGRESS_STEP:
                        progress(unreported)
                        unreported = 0
                se_error = fault_rng.choice((1, 2, -1)) if fault_rng.random() < wrong_counts else 0
                written, true = w.end_set(se_error=se_error)
                if se_error:
                    out.file_fault(place, "wrong_se_count", f"SE01={written} actual={true}")
            ge_error = fault_rng.choice((1, 2)) if fault_rng.random() < wrong_counts else 0
            written, true = w.end(ge_error=ge_error)
            if ge_error:
                place = Place(path.name, f"{control:09d}", "", carrier.naic)
                out.file_fault(place, "wrong_ge_count", f"GE01={written} actual={true}")
        if progress is not None and unreported:
            progress(unreported)
        out.summary.files.append(path)
