"""Makes (NCIC style), their world manufacturer identifiers, VINs and plates.

A VIN here is built the way 49 CFR 565 lays it out: WMI (1-3) of the make, a model descriptor
(4-8) drawn from a few per make so that VINs of one make look alike, the check digit (9), the
model-year code (10), a plant code (11) and a serial (12-17)."""

from __future__ import annotations

import random
from datetime import date

from ..schemas.vin import with_check_digit, year_code

VIN_ALPHABET = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"  # no I, O, Q

# make -> (market weight, WMIs, first model year sold, passenger / commercial)
_PASSENGER: dict[str, tuple[int, tuple[str, ...], int]] = {
    "TOYT": (16, ("JTD", "JTE", "JTM", "4T1", "5TD", "2T1", "4T3"), 1981),
    "HOND": (12, ("1HG", "2HG", "JHM", "5FN", "19X"), 1981),
    "FORD": (10, ("1FA", "1FM", "1FT", "3FA", "2FM"), 1981),
    "CHEV": (9, ("1G1", "1GN", "2G1", "3GN", "1GC"), 1981),
    "NISS": (7, ("1N4", "JN1", "5N1", "3N1", "JN8"), 1981),
    "TESL": (5, ("5YJ", "7SA"), 2012),
    "HYUN": (4, ("KMH", "5NP", "5NM"), 1986),
    "KIA": (4, ("KNA", "KND", "5XY", "3KP"), 1994),
    "SUBA": (3, ("JF1", "JF2", "4S3", "4S4"), 1981),
    "BMW": (3, ("WBA", "5UX", "WBS"), 1981),
    "MERZ": (3, ("WDD", "WDB", "4JG", "W1K"), 1981),
    "VOLK": (3, ("WVW", "3VW", "1VW", "WVG"), 1981),
    "MAZD": (3, ("JM1", "JM3", "3MZ"), 1981),
    "LEXS": (3, ("JTH", "2T2", "JTJ"), 1990),
    "JEEP": (3, ("1C4", "1J4"), 1981),
    "DODG": (2, ("2C3", "1B3", "2C4"), 1981),
    "GMC": (2, ("1GT", "1GK", "3GT"), 1981),
    "ACUR": (2, ("19U", "JH4", "5J8"), 1986),
    "AUDI": (2, ("WAU", "WA1"), 1981),
    "VOLV": (1, ("YV1", "YV4"), 1981),
    "MITS": (1, ("JA3", "JA4", "4A3"), 1983),
    "INFI": (1, ("JNK", "JN8", "5N1"), 1990),
    "CHRY": (1, ("2C3", "1C3", "2A4"), 1981),
}
_COMMERCIAL: dict[str, tuple[int, tuple[str, ...], int]] = {
    "FORD": (14, ("1FT", "1FD", "1FB", "1FM"), 1981),
    "CHEV": (10, ("1GC", "1GB", "1GA"), 1981),
    "RAM": (6, ("3C6", "3C7", "1C6"), 2011),
    "GMC": (4, ("1GT", "1GD"), 1981),
    "MERZ": (4, ("WD3", "W1Y", "WDA"), 1995),
    "FRHT": (3, ("1FU", "3AK", "1FV"), 1981),
    "INTL": (2, ("1HT", "3HA", "1HS"), 1981),
    "ISU": (2, ("JAL", "54D"), 1984),
    "TOYT": (4, ("5TF", "3TM", "JTE"), 1981),
    "NISS": (2, ("1N6", "3N6"), 1981),
    "HINO": (1, ("5PV", "JHH"), 2005),
    "TESL": (1, ("5YJ", "7SA"), 2012),
}


def _table(makes: dict[str, tuple[int, tuple[str, ...], int]]):
    names = list(makes)
    return names, [makes[m][0] for m in names]


_PV_MAKES, _PV_WEIGHTS = _table(_PASSENGER)
_CV_MAKES, _CV_WEIGHTS = _table(_COMMERCIAL)


class VinFactory:
    """Makes believable, valid VINs.  Each make gets a handful of model descriptors and
    plants fixed per run, as a real make has a handful of models and factories."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._descriptors: dict[str, list[str]] = {}
        self._plants: dict[str, str] = {}

    def _descriptor(self, make: str) -> str:
        pool = self._descriptors.get(make)
        if pool is None:
            rng = self._rng
            pool = ["".join(rng.choices(VIN_ALPHABET, k=5)) for _ in range(rng.randint(4, 9))]
            self._descriptors[make] = pool
            self._plants[make] = "".join(rng.sample(VIN_ALPHABET[:-10], k=3))
        return self._rng.choice(pool)

    def vehicle(self, today: date, *, commercial: bool = False) -> tuple[str, int, str]:
        """(VIN, model year, make) of a new random vehicle."""
        rng = self._rng
        table = _COMMERCIAL if commercial else _PASSENGER
        names, weights = (_CV_MAKES, _CV_WEIGHTS) if commercial else (_PV_MAKES, _PV_WEIGHTS)
        newest = today.year + (1 if today.month >= 7 else 0)  # next model year is on sale
        make = rng.choices(names, weights=weights)[0]
        while table[make][2] > newest:  # only when ``today`` is far in the past
            make = rng.choices(names, weights=weights)[0]
        _, wmis, first_year = table[make]
        # Most cars on the road are under 15 years old; a tail reaches back to the 1980s.
        age = min(int(rng.expovariate(1 / 7.5)), newest - max(first_year, 1981))
        year = newest - age
        descriptor = self._descriptor(make)
        plant = rng.choice(self._plants[make])
        serial = f"{rng.randint(0, 999_999):06d}"
        vin = with_check_digit(f"{rng.choice(wmis)}{descriptor}0{year_code(year)}{plant}{serial}")
        return vin, year, make


class PlateFactory:
    """Unique California-style plates without remembering the ones handed out: the n-th
    plate is an affine permutation of n over the plate space (multiplier coprime to it)."""

    _SPACE = 9 * 26**3 * 1000  # digit 1-9, three letters, three digits: 1ABC234
    _COMMERCIAL_SPACE = 9 * 26 * 100000  # 1A23456

    def __init__(self, rng: random.Random) -> None:
        self._offset = rng.randrange(self._SPACE)
        self._c_offset = rng.randrange(self._COMMERCIAL_SPACE)
        self._n = 0
        self._c = 0

    def next(self, *, commercial: bool = False) -> str:
        if commercial:
            k = (self._c * 1_000_003 + self._c_offset) % self._COMMERCIAL_SPACE
            self._c += 1
            k, digits = divmod(k, 100000)
            k, letter = divmod(k, 26)
            return f"{k + 1}{chr(65 + letter)}{digits:05d}"
        k = (self._n * 7_368_787 + self._offset) % self._SPACE
        self._n += 1
        k, digits = divmod(k, 1000)
        k, l3 = divmod(k, 26)
        k, l2 = divmod(k, 26)
        k, l1 = divmod(k, 26)
        return f"{k + 1}{chr(65 + l1)}{chr(65 + l2)}{chr(65 + l3)}{digits:03d}"
