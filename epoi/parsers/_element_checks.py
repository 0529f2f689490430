"""Element-level checks of the compiled 811 map: for each X12 data type, a test that says
True only for values pyx12 accepts (anything else is handed to pyx12 itself, so the error
codes stay pyx12's), the same test as a piece of a whole-segment regex, and the map's syntax
rules (paired, required, exclusive, conditional, list conditional) over a segment's fields.
Pure functions of strings: ``_compiled`` builds the rules from them."""

from __future__ import annotations

import datetime as _dt
import re
from functools import lru_cache
from typing import Any

__all__ = [
    "both", "external_predicate", "fast_predicate", "max_count", "never", "shape_of",
    "shape_regex", "syntax_check", "syntax_ok", "valid_date",
]

# pyx12's character classes (pyx12/validation.py): the basic and extended X12 sets.
_CHARSET = {
    "B": r"""A-Z0-9!"&'()*+,\-\./:;?= """,
    "E": r"""A-Z0-9!"&'()*+,\-\./:;?= a-z%~@\[\]_{}\\|<>#$""",
}


def max_count(text: str | None) -> int:
    """A map's repeat or max-use count; ">1" and anything unreadable: no limit."""
    if text is None or text.startswith(">"):
        return 1 << 30
    try:
        return int(text)
    except ValueError:
        return 1 << 30


def valid_date(value: str, data_type: str) -> bool:
    if not value.isdigit() or not value.isascii():
        return False
    if data_type == "D6" or (data_type == "DT" and len(value) == 6):
        if len(value) != 6:
            return False
        value = ("20" if int(value[:2]) < 50 else "19") + value
    elif len(value) != 8:
        return False
    try:
        _dt.date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        return False
    return True


def _time_ok(value: str) -> bool:
    if not value.isdigit() or len(value) not in (4, 6):
        return False
    return (int(value[:2]) < 24 and int(value[2:4]) < 60
            and (len(value) == 4 or int(value[4:6]) < 60))


def fast_predicate(rule_type: str, min_len: int, max_len: int, codes: frozenset[str] | None,
                    charset: str) -> Any:
    """A check that says True only for values pyx12 accepts; False means "ask pyx12"."""
    if codes is not None:
        return codes.__contains__
    chars = _CHARSET.get(charset, _CHARSET["B"])
    if rule_type in ("AN", "ID"):
        # no trailing space, length in range, only characters of the set
        rx = re.compile(rf"[{chars}]{{{max(min_len - 1, 0)},{max(max_len - 1, 0)}}}"
                        rf"[{chars.replace(' ', '')}]")
        return rx.fullmatch
    if rule_type and rule_type[0] == "N":
        rx = re.compile(rf"-?[0-9]{{{max(min_len, 1)},{max_len}}}")
        return rx.fullmatch
    if rule_type in ("DT", "D8", "D6"):
        ok_lengths = range(min_len, max_len + 1)

        @lru_cache(maxsize=4096)
        def date_ok(v: str) -> bool:
            return len(v) in ok_lengths and valid_date(v, rule_type)

        return date_ok
    if rule_type == "TM":
        ok_lengths = range(min_len, max_len + 1)
        return lambda v: len(v) in ok_lengths and _time_ok(v)
    # R, RD8, B and anything unusual: always let pyx12 decide.
    return lambda v: False


def shape_of(rule_type: str, min_len: int, max_len: int) -> tuple[tuple[Any, ...] | None, Any]:
    """The regex shape and extra value check equal to ``fast_predicate`` (without codes)."""
    if rule_type in ("AN", "ID"):
        return ("chars", min_len, max_len), None
    if rule_type and rule_type[0] == "N":
        return ("num", max(min_len, 1), max_len), None
    if rule_type in ("DT", "D8", "D6"):
        lengths = range(min_len, max_len + 1)

        @lru_cache(maxsize=4096)
        def date_ok(v: str) -> bool:
            return len(v) in lengths and valid_date(v, rule_type)

        return ("digits", min_len, max_len), date_ok
    if rule_type == "TM":
        lengths = range(min_len, max_len + 1)
        return ("digits", min_len, max_len), lambda v: len(v) in lengths and _time_ok(v)
    return None, None


def both(first: Any, second: Any) -> Any:
    if first is None:
        return second
    return lambda v: bool(first(v)) and bool(second(v))


def _class(charset: str, exclude: str, space: bool) -> str:
    """A regex character class of pyx12's charset less the delimiters in ``exclude``."""
    allowed = re.compile(f"[{_CHARSET.get(charset, _CHARSET['B'])}]")
    chars = [c for c in map(chr, range(256))
             if allowed.fullmatch(c) and c not in exclude and (space or c != " ")]
    return "[" + "".join(re.escape(c) for c in chars) + "]"


def shape_regex(shape: tuple[Any, ...], charset: str, exclude: str) -> str:
    kind = shape[0]
    if kind == "codes":
        codes = sorted((c for c in shape[1] if not any(x in c for x in exclude)),
                       key=lambda c: (-len(c), c))
        return "(?:" + "|".join(re.escape(c) for c in codes) + ")" if codes else "(?!)"
    lo, hi = shape[1], shape[2]
    if kind == "chars":  # as fast_predicate: no trailing space
        return (f"{_class(charset, exclude, True)}{{{max(lo - 1, 0)},{max(hi - 1, 0)}}}"
                f"{_class(charset, exclude, False)}")
    if kind == "num":
        return f"-?[0-9]{{{lo},{hi}}}"
    if kind == "digits":
        return f"[0-9]{{{lo},{hi}}}"
    raise ValueError(kind)


def syntax_check(syntax: list[Any]) -> Any:
    kind, positions = syntax[0], tuple(syntax[1:])
    if kind == "P" and len(positions) == 2:
        a, b = positions

        def paired(f: list[str]) -> bool:
            n = len(f)
            return (a < n and f[a] != "") == (b < n and f[b] != "")

        return paired
    return lambda f: syntax_ok(syntax, f)


def external_predicate(shape_ok: Any, ext_codes: Any, list_name: str) -> Any:
    @lru_cache(maxsize=4096)
    def ok(v: str) -> bool:
        return bool(shape_ok(v)) and bool(ext_codes.isValid(list_name, v))

    return ok


def never(value: str) -> bool:
    return False


def syntax_ok(syntax: list[Any], fields: list[str]) -> bool:
    kind = syntax[0]
    present = [(p < len(fields) and fields[p] != "") for p in syntax[1:]]
    if kind == "P":  # all or none
        return all(present) or not any(present)
    if kind == "R":  # at least one
        return any(present)
    if kind == "E":  # at most one
        return sum(present) <= 1
    if kind == "C":  # if first then all others
        return not present[0] or all(present[1:])
    if kind == "L":  # if first then at least one other
        return not present[0] or any(present[1:])
    return False
