"""The mistakes carriers really make, injected at chosen rates and always recorded.

Faults are drawn from their own random stream, so two runs with the same seed describe the
same world whatever the fault rates: only the injected mistakes differ."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

from ..errors import ConfigError
from ..schemas.vin import check_digit, check_digit_ok
from ._vehicles import VIN_ALPHABET


@dataclass(frozen=True, slots=True)
class FaultOptions:
    """Rates in [0, 1]. ``vin_typos``, ``bad_check_digits``: per reported vehicle;
    ``missing_dates``: per policy with more than one DTM (a record-level fault, E103: the
    policy's only DTM is never removed); ``wrong_counts``: per transaction set (SE01) and per
    functional group (GE01), the only faults that make a file fail at the X12 level.
    The default keeps files clean at the X12 level."""

    vin_typos: float = 0.01
    bad_check_digits: float = 0.0
    missing_dates: float = 0.0
    wrong_counts: float = 0.0

    def __post_init__(self) -> None:
        for name, rate in asdict(self).items():
            if not 0.0 <= rate <= 1.0:
                raise ConfigError("SAMPLE-FAULT-RATE", f"fault rate {name}={rate} is not in [0, 1]")

    @classmethod
    def none(cls) -> FaultOptions:
        return cls(vin_typos=0.0)


@dataclass(frozen=True, slots=True)
class MatchingTraps:
    """What makes matching hard in a real registration file, at chosen rates in [0, 1].
    Drawn from their own random stream: the carrier files are the same whatever the rates,
    only ``registrations.csv`` and the ground truth change.

    ``name_variants``: per registered individual, the registration spells the owner's name
    otherwise (hyphen or blank in a double surname, one half of it, a generational suffix,
    no apostrophe, first and last names swapped).  ``decoys``: per registered vehicle, another
    vehicle of the same make and year whose VIN differs from it in two serial positions
    (check digit still valid), registered to somebody else and insured by nobody.
    ``twins``: per reported vehicle that is not registered, its owner has another,
    registered vehicle of the same make, model and year (another serial) that nobody
    reports: step 3 alone would take one for the other."""

    name_variants: float = 0.05
    decoys: float = 0.02
    twins: float = 0.5

    def __post_init__(self) -> None:
        for name, rate in asdict(self).items():
            if not 0.0 <= rate <= 1.0:
                raise ConfigError("SAMPLE-FAULT-RATE", f"trap rate {name}={rate} is not in [0, 1]")

    @classmethod
    def none(cls) -> MatchingTraps:
        return cls(0.0, 0.0, 0.0)


# What a keyer or an OCR pass typically puts instead of a character: look-alikes and
# keyboard neighbours (I, O and Q are not VIN characters, so 1/0 become L/D rather than I/O).
_CONFUSABLE = {
    "0": "D89", "1": "7L2", "2": "Z13", "3": "8E24", "4": "A35", "5": "S64", "6": "G5B7",
    "7": "1T68", "8": "B039", "9": "8G0", "A": "4", "B": "8", "C": "G", "D": "0", "E": "F3",
    "F": "E", "G": "6C", "L": "1", "M": "N", "N": "M", "S": "5", "T": "7", "U": "V", "V": "UY",
    "Y": "V", "Z": "2",
}


def _mistype(rng: random.Random, char: str) -> str:
    if char in _CONFUSABLE and rng.random() < 0.7:
        return rng.choice(_CONFUSABLE[char])
    return rng.choice(VIN_ALPHABET.replace(char, ""))


def vin_typo(rng: random.Random, vin: str) -> tuple[str, str]:
    """A keying mistake: one or two characters changed, or two neighbours swapped.

    Half of the typos are drawn among those that still pass the check digit: those are the
    ones that survive validation in real life and that near-VIN matching must catch.
    Returns (typed VIN, kind)."""
    keep_check = rng.random() < 0.5
    typed, kind = vin, "substitute"
    for _ in range(200):
        kind = rng.choices(("substitute", "substitute2", "transpose"), weights=(6, 2, 2))[0]
        chars = list(vin)
        if kind == "transpose":
            i = rng.randrange(16)
            if chars[i] == chars[i + 1]:
                continue
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        else:
            for i in rng.sample(range(17), 1 if kind == "substitute" else 2):
                chars[i] = _mistype(rng, chars[i])
        typed = "".join(chars)
        if typed != vin and (not keep_check or check_digit_ok(typed)):
            return typed, kind
    # No check-passing typo found in 200 tries (very unlikely): keep the last plain one.
    return typed, kind


def bad_check_digit(rng: random.Random, vin: str) -> str:
    """The same VIN with a wrong character at position 9."""
    right = check_digit(vin)
    return vin[:8] + rng.choice("0123456789X".replace(right, "")) + vin[9:]
