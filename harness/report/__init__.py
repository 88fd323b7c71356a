"""Reports of a judged run: the text table (`text`), the self-contained HTML page (`html`) and the
JSON record itself. They only draw: every figure and word comes from the `ParityReport`, whose
`status` is the one verdict."""

from __future__ import annotations

from pathlib import Path

from harness.parity.verdict import ParityReport
from harness.report.text import format_report

__all__ = ["format_report", "write"]


def write(parity_report: ParityReport, *, json: str | Path | None = None, html: str | Path | None = None) -> str:
    """The text table; with `json`/`html`, also those files (nothing is written when one cannot be)."""
    from harness.report import html as html_page

    if html:
        html_page.check_drawable()
    if json:
        parity_report.write(json)
    if html:
        html_page.write(parity_report, html)
    return format_report(parity_report)
