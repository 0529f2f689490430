"""Name agreement for matching steps 2 and 4: the same person written differently.

Carriers and the registration file spell names their own way: ``O'BRIEN`` / ``OBRIEN``,
``GARCIA-LOPEZ`` / ``GARCIA LOPEZ`` / ``GARCIA``, ``SMITH JR`` / ``SMITH``, accents, and now
and then the first and last names swapped.  A name is reduced to keys: the whole name with
punctuation, blanks and generational suffixes removed, plus each part of a compound name
(so a registration under one half of a double surname still agrees).  Two names agree when
they share a key.  Keys are cached: surnames repeat, so the cache also interns them.
"""

from __future__ import annotations

import functools
import unicodedata

# Removed outright (O'BRIEN -> OBRIEN, ST. JOHN -> ST JOHN); separators become blanks.
_TABLE = str.maketrans({"'": None, ".": None, "`": None, "-": " ", ",": " ", "/": " ",
                        "&": " ", "(": " ", ")": " ", '"': None, "_": " "})
GENERATIONAL_SUFFIXES = frozenset({"JR", "SR", "II", "III", "IV", "2ND", "3RD"})
ORGANISATION_SUFFIXES = frozenset({
    "INC", "INCORPORATED", "LLC", "LLP", "LP", "LTD", "CO", "CORP", "CORPORATION", "COMPANY",
    "THE",
})
# Parts of a compound surname too common to identify anyone on their own.
_PARTICLES = frozenset({"DE", "DEL", "DELA", "LA", "LAS", "LOS", "DA", "DI", "DO", "DOS", "DU",
                        "VAN", "VON", "DER", "DEN", "LE", "MAC", "MC", "ST", "Y", "E"})


def _tokens(name: str, drop: frozenset[str]) -> list[str]:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    words = folded.upper().translate(_TABLE).split()
    words = ["".join(c for c in w if c.isalnum()) for w in words]
    kept = [w for w in words if w and w not in drop]
    # A name that is nothing but a suffix ("II") keeps it rather than vanishing.
    return kept or [w for w in words if w]


@functools.lru_cache(maxsize=1 << 18)
def name_key(name: str | None) -> str:
    """The canonical key of a person's name part: ``"García-López Jr."`` -> ``GARCIALOPEZ``.
    Empty when there is no name."""
    if not name:
        return ""
    return "".join(_tokens(name, GENERATIONAL_SUFFIXES))


@functools.lru_cache(maxsize=1 << 18)
def name_keys(name: str | None) -> tuple[str, ...]:
    """Every key a person's name part agrees under: the whole (``name_key``) and, for a
    compound name, each part that is not a particle (``DE LA CRUZ`` -> ``DELACRUZ``, ``CRUZ``).
    """
    if not name:
        return ()
    tokens = _tokens(name, GENERATIONAL_SUFFIXES)
    whole = "".join(tokens)
    if len(tokens) == 1:
        return (whole,)
    parts = [t for t in tokens if len(t) >= 2 and t not in _PARTICLES and t != whole]
    return (whole, *dict.fromkeys(parts))


@functools.lru_cache(maxsize=1 << 16)
def organisation_key(name: str | None) -> str:
    """``"Acme Trucking, Inc."`` and ``"ACME TRUCKING INC"`` -> ``ACMETRUCKING``."""
    if not name:
        return ""
    return "".join(_tokens(name, ORGANISATION_SUFFIXES))


def _share(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    for key in a:  # a plain loop: this runs for every candidate of steps 2 and 4
        if key in b:
            return True
    return False


def last_name_agrees(
    reported_last: str | None,
    reported_first: str | None,
    registered_last: str | None,
    registered_first: str | None,
) -> bool:
    """The owner's last name agrees, allowing for spelling variants and for first and last
    names swapped on one side.  A swap counts only when both halves agree crosswise, so a
    relative who shares the owner's first name as a surname does not."""
    rep_last, reg_last = name_keys(reported_last), name_keys(registered_last)
    if rep_last and reg_last and _share(rep_last, reg_last):
        return True
    rep_first, reg_first = name_keys(reported_first), name_keys(registered_first)
    return bool(
        rep_first and reg_first and rep_last and reg_last
        and _share(rep_first, reg_last) and _share(rep_last, reg_first)
    )
