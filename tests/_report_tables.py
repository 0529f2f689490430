"""Reading the tables of a rendered HTML report back, for the report tests."""

from __future__ import annotations

from html.parser import HTMLParser


class _Tables(HTMLParser):
    """The text of every cell of every ``table[data-section]``."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._section: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and a.get("data-section"):
            self._section = a["data-section"]
            self.tables[self._section] = []
        elif tag == "tr" and self._section:
            self.tables[self._section].append([])
        elif tag in ("td", "th") and self._section:
            self._cell = []

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._section:
            self.tables[self._section][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._section = None


def cell_text(value: object) -> str:
    """How the HTML report writes a JSON value in a cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value)


def html_tables(html: str) -> dict[str, list[list[str]]]:
    """Cell texts of every ``table[data-section]``, header row first."""
    parser = _Tables()
    parser.feed(html)
    return parser.tables
