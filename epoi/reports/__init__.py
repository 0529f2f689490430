"""Auditor and carrier reports: summary, one submission, one carrier, unmatched vehicles and
reporting timeliness, as JSON, CSV or one self-contained HTML file.

Public API:

- ``ReportOptions(scope, start, end, as_of, masked, pending_window_days, clock)``
- ``summary_report(session, opts)``, ``submission_report(session, opts, submission_id)``,
  ``carrier_report(session, opts, naic)``, ``unmatched_report(session, opts)``,
  ``timeliness_report(session, opts)``: the typed, frozen report models (``_model``)
- ``render(report, "html" | "json") -> str``; ``report_dict(report)`` (the JSON
  document as a dict); ``csv_tables(report)`` (file name -> CSV, one per table, and
  ``report.csv`` saying what they are), ``render_csv(report, section)`` (one table),
  ``csv_zip(report)`` (the tables as one zip)
- ``mask_licence``, ``mask_date_of_birth``, ``mask_name``, ``mask_fein``,
  ``mask_policy_number``
"""

from ._mask import mask_date_of_birth, mask_fein, mask_licence, mask_name, mask_policy_number
from ._model import (
    AnyReport,
    CarrierReport,
    Report,
    Section,
    SubmissionReport,
    SummaryReport,
    TimelinessReport,
    UnmatchedReport,
)
from ._queries import (
    ReportOptions,
    carrier_report,
    submission_report,
    summary_report,
    timeliness_report,
    unmatched_report,
)
from ._render import (
    Format,
    csv_tables,
    csv_zip,
    render,
    render_csv,
    render_html,
    render_json,
    report_dict,
)

__all__ = [
    "AnyReport",
    "CarrierReport",
    "Format",
    "Report",
    "ReportOptions",
    "Section",
    "SubmissionReport",
    "SummaryReport",
    "TimelinessReport",
    "UnmatchedReport",
    "carrier_report",
    "csv_tables",
    "csv_zip",
    "mask_date_of_birth",
    "mask_fein",
    "mask_licence",
    "mask_name",
    "mask_policy_number",
    "render",
    "render_csv",
    "render_html",
    "render_json",
    "report_dict",
    "submission_report",
    "summary_report",
    "timeliness_report",
    "unmatched_report",
]
