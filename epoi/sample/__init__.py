"""``epoi sample``: realistic synthetic carrier 811 files, a matching registration file and
the ground truth that says what every reported vehicle really is.

Public API:

- ``generate(policies, out_dir, *, today, seed=0, carriers=3, faults=FaultOptions(),
  traps=MatchingTraps(),
  policies_per_file=10_000, policies_per_set=2_000, progress=None) -> SampleSummary``
- ``FaultOptions``: rates of injected mistakes (VIN typos, bad check digits, missing dates,
  wrong SE/GE counts), all recorded in ``ground_truth.csv``.
- ``MatchingTraps``: what makes matching hard (name variants in the registration file,
  decoy near VINs of other owners, registered twins of unregistered vehicles), recorded in
  ``ground_truth.csv`` too; the carrier files do not depend on them.
"""

from __future__ import annotations

from ._faults import FaultOptions, MatchingTraps
from ._generate import generate
from ._outputs import (
    GROUND_TRUTH_COLUMNS,
    GROUND_TRUTH_FILE,
    REGISTRATION_COLUMNS,
    REGISTRATIONS_FILE,
    SampleSummary,
)

__all__ = [
    "GROUND_TRUTH_COLUMNS",
    "GROUND_TRUTH_FILE",
    "REGISTRATION_COLUMNS",
    "REGISTRATIONS_FILE",
    "FaultOptions",
    "MatchingTraps",
    "SampleSummary",
    "generate",
]
