"""VIN rules of 49 CFR 565: the alphabet, the check digit (position 9) and the
model-year code (position 10).  Pure functions; used by the business edits and by
``epoi sample``."""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable

VIN_LENGTH = 17
_CHARACTER = re.compile(r"[A-HJ-NPR-Z0-9]")  # A-Z and 0-9 without I, O and Q
_VALID = re.compile(_CHARACTER.pattern + "{17}")
_TRANSLIT = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
_ZEROS = (0,) * VIN_LENGTH  # the default of a character without a value
# byte -> its value (0 for a character without one), for ``bytes.translate``
_TRANSLIT_ASCII = bytes(_TRANSLIT.get(chr(b), 0) for b in range(256))
# Position 10 cycles every 30 years; 1980 and 2010 share "A".
_YEAR_CODES = "ABCDEFGHJKLMNPRSTVWXY123456789"


def normalize(vin: str) -> str:
    """Upper case, blanks and dashes removed (companion guide §5, step 1)."""
    return "".join(vin.split()).replace("-", "").upper()


def has_valid_characters(vin: str) -> bool:
    """17 characters from A-Z and 0-9 without I, O and Q."""
    return bool(_VALID.fullmatch(vin))


def lookup_problem(vin: str) -> str | None:
    """Why a normalised VIN someone asks about cannot be any vehicle's, or None.  The
    characters are those of every VIN (E203); the length may be 1 to 17, not only 17
    (E202), because vehicles older than model year 1981 carry shorter numbers."""
    if not vin:
        return "a VIN is not empty (E201)"
    bad = sorted({c for c in vin if not _CHARACTER.fullmatch(c)})
    if bad:
        return (f"{', '.join(repr(c) for c in bad)} not allowed: a VIN has only A-Z and 0-9, "
                "without I, O and Q (E203)")
    if len(vin) > VIN_LENGTH:
        return (f"{len(vin)} characters: a VIN has at most {VIN_LENGTH} (exactly "
                f"{VIN_LENGTH} from model year 1981, E202)")
    return None


def check_digit(vin: str) -> str:
    """The check digit a 17-character VIN should carry at position 9 ("X" for 10)."""
    # over C builtins, not a generator: the business edits check every VIN (E204)
    if vin.isascii():
        values: Iterable[int] = vin.encode("ascii").translate(_TRANSLIT_ASCII)
    else:
        values = map(_TRANSLIT.get, vin, _ZEROS)
    total = sum(map(operator.mul, values, _WEIGHTS))
    rem = total % 11
    return "X" if rem == 10 else str(rem)


def check_digit_ok(vin: str) -> bool:
    return len(vin) == VIN_LENGTH and vin[8] == check_digit(vin)


def with_check_digit(vin: str) -> str:
    """The same VIN with position 9 set to its correct check digit."""
    return vin[:8] + check_digit(vin) + vin[9:]


def year_code(model_year: int) -> str:
    return _YEAR_CODES[(model_year - 1980) % 30]


def year_code_matches(vin: str, model_year: int) -> bool:
    """Position 10 is consistent with the model year (either 30-year cycle)."""
    return len(vin) == VIN_LENGTH and vin[9] == year_code(model_year)
