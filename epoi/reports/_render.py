"""Renderers: a report model to JSON, CSV or one self-contained HTML file.

All three read ``Report.sections()``, so they carry the same numbers.  CSV is one file per
table (a report's tables have different columns, and one CSV of stacked tables opens as
no sensible sheet).  The HTML file has
inline CSS, inline SVG charts (``_svg``) and a few lines of inline script that sort a table
when its header is clicked; it loads nothing from anywhere.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from html import escape
from typing import Any, Literal

from ._model import Cell, Report, Section
from ._svg import hbars, stacked_bars

Format = Literal["html", "csv", "json"]


def report_dict(report: Report) -> dict[str, Any]:
    """The JSON document: the header, the notes, the report's own scalar fields and one
    list of row objects per section."""
    doc: dict[str, Any] = dict(report.header())
    section_fields = {s.field for s in report.SECTIONS}
    for name, value in report.model_dump(mode="json").items():
        if name not in section_fields and name not in doc:
            doc[name] = value
    doc["notes"] = list(report.notes)
    doc["sections"] = {
        s.name: {
            "title": s.title,
            "columns": list(s.columns),
            "rows": [dict(zip(s.columns, row, strict=True)) for row in s.rows],
        }
        for s in report.sections()
    }
    return doc


def render_json(report: Report) -> str:
    return json.dumps(report_dict(report), indent=2) + "\n"


def _csv(rows: list[list[Cell]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for row in rows:
        w.writerow(["" if c is None else c for c in row])
    return buf.getvalue()


def render_csv(report: Report, section: str) -> str:
    """One table of the report as CSV: its header row, then its rows.  Raises ``KeyError``
    (naming the tables there are) when the report has no such table."""
    for s in report.sections():
        if s.name == section:
            return _csv([list(s.columns), *map(list, s.rows)])
    raise KeyError(section)


def csv_tables(report: Report) -> dict[str, str]:
    """The report as CSV files, one per table (each with its own header row, so each opens
    as one sheet): ``report.csv`` says what the report is (kind, period, generated, masked,
    the notes, and which file holds which table), then ``<section>.csv`` for every table."""
    sections = report.sections()
    about: list[list[Cell]] = [["field", "value"]]
    about += [[key, value] for key, value in report.header().items()]
    about += [["note", note] for note in report.notes]
    about += [["table", f"{s.name}.csv: {s.title}"] for s in sections]
    files = {"report.csv": _csv(about)}
    for s in sections:
        files[f"{s.name}.csv"] = render_csv(report, s.name)
    return files


def csv_zip(report: Report) -> bytes:
    """``csv_tables`` as one zip file: the set an auditor keeps or mails as one."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, text in csv_tables(report).items():
            z.writestr(name, text)
    return buf.getvalue()


# -- HTML ----------------------------------------------------------------------------------

_CSS = """
:root { --ink:#1d2630; --muted:#5b6770; --line:#d7dde2; --band:#f4f6f8; --accent:#0072B2; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       margin: 0 auto; max-width: 1180px; padding: 24px 32px 48px; }
header { border-bottom: 3px solid var(--accent); margin-bottom: 18px; padding-bottom: 8px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; padding-top: 8px; border-top: 1px solid var(--line); }
.meta { color: var(--muted); margin: 0; }
.meta b { color: var(--ink); font-weight: 600; }
.notes { background: #fff8e5; border-left: 4px solid #E69F00; padding: 8px 12px; margin: 12px 0; }
.masked { color: var(--muted); }
.unmasked { color: #b00020; font-weight: 600; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 4px;
        font-variant-numeric: tabular-nums; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: left;
         white-space: nowrap; }
td.num, th.num { text-align: right; }
thead th { background: var(--band); cursor: pointer; user-select: none; position: sticky; top: 0; }
thead th::after { content: " \\2195"; color: #aab4bc; font-size: 11px; }
thead th[aria-sort="ascending"]::after { content: " \\2191"; color: var(--accent); }
thead th[aria-sort="descending"]::after { content: " \\2193"; color: var(--accent); }
tbody tr:nth-child(even) { background: #fafbfc; }
.scroll { overflow-x: auto; }
table.wide { font-size: 12px; }
/* Many columns: headers and names wrap at their blanks, so the table fits a 1280-pixel
   window; dates, VINs and codes stay whole (a browser would break a date at its dashes). */
table.wide th, table.wide td { padding: 3px 6px; }
table.wide th, table.wide td.words { white-space: normal; }
table.wide th { vertical-align: bottom; }
.empty { color: var(--muted); font-style: italic; }
#t-key_figures { width: auto; min-width: 380px; }
svg.chart { display: block; max-width: 100%; height: auto; margin: 6px 0; }
svg.chart text { font: 11px system-ui, sans-serif; fill: var(--muted); }
svg.chart line.grid { stroke: #e5e9ec; }
nav ul { columns: 2; margin: 6px 0 0; padding-left: 18px; }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
@media print { thead th { position: static; } }
"""

# Sort a table by the clicked column: numbers by their data-value, text by locale order.
_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("thead th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var asc = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("thead th").forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col], y = b.cells[col];
        var nx = x.dataset.value, ny = y.dataset.value, r;
        if (nx !== undefined && ny !== undefined) { r = parseFloat(nx) - parseFloat(ny); }
        else { r = x.textContent.localeCompare(y.textContent); }
        return asc ? r : -r;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
document.documentElement.setAttribute("data-sortable", "ready");
"""


def _label(column: str) -> str:
    return column.replace("_", " ")


def _display(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return value


def _is_number(value: Cell) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _table(s: Section) -> str:
    numeric = [
        any(_is_number(r[i]) for r in s.rows)
        and all(r[i] is None or _is_number(r[i]) for r in s.rows)
        for i in range(len(s.columns))
    ]
    num_class = ' class="num"'
    head = "".join(
        f'<th scope="col" data-column="{escape(c)}"{num_class if numeric[i] else ""}>'
        f"{escape(_label(c))}</th>"
        for i, c in enumerate(s.columns)
    )
    body = []
    for row in s.rows:
        cells = []
        for i, value in enumerate(row):
            if numeric[i] and value is not None:
                cells.append(f'<td class="num" data-value="{value}">{escape(_display(value))}</td>')
            elif isinstance(value, str) and " " in value.strip():
                cells.append(f'<td class="words">{escape(_display(value))}</td>')
            else:
                cells.append(f"<td>{escape(_display(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    if not s.rows:
        body.append(f'<tr><td class="empty" colspan="{len(s.columns)}">none</td></tr>')
    classes = "sortable wide" if len(s.columns) > 8 else "sortable"  # many columns: smaller
    return (
        f'<div class="scroll"><table class="{classes}" id="t-{escape(s.name)}" '
        f'data-section="{escape(s.name)}">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _chart(s: Section) -> str:
    spec = s.spec
    if spec.chart is None or not s.rows or spec.chart_label is None:
        return ""
    labels = [str(v) for v in s.column(spec.chart_label)]
    if not any(v for c in spec.chart_values for v in s.column(c)):
        return '<p class="empty">nothing to chart: every value is 0</p>'
    if spec.chart == "hbars":
        values = [float(v or 0) for v in s.column(spec.chart_values[0])]
        return hbars(labels, values, title=s.title)
    series = {
        _label(c): [float(v or 0) for v in s.column(c)]
        for c in spec.chart_values
    }
    return stacked_bars(labels, series, title=s.title)


def render_html(report: Report) -> str:
    header = report.header()
    sections = report.sections()
    period = (
        f"{header['period_from'] or 'start'} to {header['period_to'] or 'now'}"
        if header["period_from"] or header["period_to"]
        else "everything stored"
    )
    mask = (
        '<span class="masked">licence numbers and dates of birth masked</span>'
        if report.masked
        else '<span class="unmasked">UNMASKED: personal data shown; this use was logged</span>'
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # No network: forbid every fetch but the inline style and script of this file.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">",
        f"<title>{escape(report.title)}: {escape(report.subject())}</title>",
        f"<style>{_CSS}</style></head><body>",
        f'<header><h1>{escape(report.title)}: {escape(report.subject())}</h1>',
        f'<p class="meta">Period <b>{escape(period)}</b> · generated '
        f"<b>{escape(str(header['generated_at']))}</b> · {mask}</p></header>",
    ]
    if report.notes:
        parts.append(
            '<div class="notes">' + "".join(f"<p>{escape(n)}</p>" for n in report.notes) + "</div>"
        )
    if len(sections) > 2:
        parts.append(
            "<nav><ul>"
            + "".join(
                f'<li><a href="#s-{escape(s.name)}">{escape(s.title)}</a></li>' for s in sections
            )
            + "</ul></nav>"
        )
    for s in sections:
        parts.append(f'<section id="s-{escape(s.name)}"><h2>{escape(s.title)}</h2>')
        parts.append(_chart(s))
        parts.append(_table(s))
        parts.append("</section>")
    parts.append(
        "<footer>epoi report · tables sort by clicking a column header · "
        "the CSV and JSON forms of this report carry the same numbers</footer>"
    )
    parts.append(f"<script>{_SCRIPT}</script></body></html>")
    return "\n".join(parts) + "\n"


def render(report: Report, fmt: Literal["html", "json"]) -> str:
    """The report as one HTML or JSON document (CSV is one file per table: ``csv_tables``,
    ``render_csv``)."""
    if fmt == "html":
        return render_html(report)
    return render_json(report)
