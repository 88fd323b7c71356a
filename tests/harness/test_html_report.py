"""The HTML report: valid, self-contained, every image decodes, every section present; drawn from saved data."""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser

import matplotlib.image
import pytest

from harness import html_report, pipeline
from harness.backends import parse_backends

VOID = {"meta", "img", "br", "hr", "link", "input"}


class _Checker(HTMLParser):
    """Fails on unbalanced tags; collects image sources and element ids."""

    def __init__(self):
        super().__init__()
        self.stack, self.images, self.ids, self.errors = [], [], set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        # <p>, <li>, <td>, <tr> may be closed implicitly in HTML; everything else must match
        while self.stack and self.stack[-1] != tag and self.stack[-1] in ("p", "li", "td", "th", "tr"):
            self.stack.pop()
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"unexpected </{tag}>")


def check(page: str) -> _Checker:
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert not checker.errors, checker.errors[:5]
    assert [t for t in checker.stack if t not in ("p", "li", "td", "th", "tr")] == []
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)=["']?https?://""", page), "the report must not load anything"
    for src in checker.images:
        assert src.startswith("data:image/png;base64,")
        data = base64.b64decode(src.split(",", 1)[1])
        image = matplotlib.image.imread(io.BytesIO(data), format="png")
        assert image.shape[0] > 50 and image.shape[1] > 50
    assert checker.ids >= set(html_report.SECTIONS)
    return checker


@pytest.fixture(scope="module")
def stress(tmp_path_factory):
    from harness.export import export_model
    from harness.models import get_model

    spec = get_model("fp16-stress")
    folder = tmp_path_factory.mktemp("stress") / "fp16-stress"
    export_model(spec, folder)
    return spec, folder


@pytest.fixture(scope="module")
def failing(stress):
    """fp16-stress through the fp16-storage profile: overflows, flips, a localised pair."""
    spec, folder = stress
    return pipeline.parity(spec, parse_backends("torch,onnxruntime,coreml-emulated@fp16[fp16-storage]"), n=120,
                           seed=0, folder=folder, overview=True)


@pytest.fixture(scope="module")
def passing(trendsplit, trendsplit_export):
    _, folder = trendsplit_export
    return pipeline.parity(trendsplit, parse_backends("torch,onnxruntime,coreml-emulated@fp32"), n=120, seed=0,
                           folder=folder, overview=True)


@pytest.fixture(scope="module")
def passing_page(passing) -> str:
    return html_report.render(passing)


@pytest.fixture(scope="module")
def failing_page(failing, tmp_path_factory) -> str:
    return html_report.write(failing, tmp_path_factory.mktemp("html") / "r.html").read_text()


def test_a_passing_run_renders_every_section(passing_page):
    page = passing_page
    checker = check(page)
    assert len(checker.images) == 4  # errors, decisions, series, ops
    assert "PASSED" in page and "FAILED" not in page


def test_a_failing_run_explains_the_overflow(failing_page):
    page = failing_page
    check(page)
    assert "FAILED" in page and "values overflow float16" in page
    assert "NaN or infinite, not drawn" in page and "framed in red" in page


def test_the_report_draws_only_on_saved_data(failing, failing_page, tmp_path, monkeypatch):
    """From the saved comparison and localisation files alone: the same page, and nothing run."""
    from harness.mil.interpreter import Interpreter
    from harness.parity import ParityReport

    saved = ParityReport.read(failing.write(tmp_path / "comparison.json"))

    def forbidden(*_args, **_kwargs):
        raise AssertionError("the report ran something")

    monkeypatch.setattr(Interpreter, "run", forbidden)
    monkeypatch.setattr("harness.export.export_model", forbidden)
    assert html_report.render(saved) == failing_page


def test_a_run_where_nothing_compared_still_renders(trendsplit, trendsplit_export):
    from harness.backends.coreml import CoreMLBackend

    if not CoreMLBackend.unavailable_reason():
        pytest.skip("needs a machine without CoreML")
    _, folder = trendsplit_export
    report = pipeline.parity(trendsplit, parse_backends("coreml"), n=10, seed=0, folder=folder)
    page = html_report.render(report)
    check(page)
    assert "No comparison ran" in page
