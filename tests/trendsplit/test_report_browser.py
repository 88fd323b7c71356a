"""The kit's model in the HTML report, as Chromium draws it: its own threshold words and its watch-log figure.

Moved from tests/harness/report/test_html_browser.py (whose page helpers it uses): the harness's tests run
users' models; this one is about the kit's.
"""

from __future__ import annotations

from harness import api
from tests.harness.report.test_html_browser import banner, banner_pixels, browser, page, shown, text_of

__all__ = ["browser"]  # the fixture, shared with the harness's browser tests


def test_trendsplit_keeps_its_threshold_words(browser, trendsplit, trendsplit_export, tmp_path):
    _, folder = trendsplit_export
    report = api.parity(trendsplit, "torch,onnxruntime,coreml-emulated@fp16[fp16-storage]", n=40, folder=folder)
    dom, pixels = shown(browser, page(report, tmp_path), tmp_path)
    words = text_of(dom)
    assert banner(dom) == (f"banner {report.status.lower()}", report.headline)
    assert banner_pixels(pixels, report.status) > 20_000
    assert "from the 0.5 threshold" in words and "class with the largest output" not in words
    assert "near threshold" in words
    assert "Watch logs drawn as the app charts them" in words
