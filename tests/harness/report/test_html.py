"""The HTML report: valid, self-contained, every image decodes, every section present; drawn from saved data."""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser

import matplotlib.image
import pytest

from harness.backends import parse_backends
from harness.parity import steps
from harness.report import html as html_report

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
def stress(fp16_overflow_model, shared_export):
    spec = fp16_overflow_model
    return spec, shared_export(spec)[1]


@pytest.fixture(scope="module")
def failing(stress):
    """A user's model whose fp16 program overflows, through fp16-storage: overflows, flips, a localised pair."""
    spec, folder = stress
    return steps.parity(spec, parse_backends("torch,onnxruntime,coreml-emulated@fp16[fp16-storage]"), n=120,
                           seed=0, folder=folder, overview=True)


@pytest.fixture(scope="module")
def passing(series_model, series_export):
    _, folder = series_export
    return steps.parity(series_model, parse_backends("torch,onnxruntime,coreml-emulated@fp32"), n=120, seed=0,
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
    assert len(checker.images) == 3  # errors, decisions, ops (no pair beyond precision to trace)
    assert "are not (x, y) series, so there is no chart to draw" in page.split("<h2 id=series>")[1]
    assert "PASSED" in page and "FAILED" not in page
    assert "Not computed: no pair was set against float64" in page.split("<h2 id=modules>")[1]


def test_a_passing_report_says_its_per_op_profile_is_informational(passing_page):
    ops = passing_page.split("<h2 id=ops>", 1)[1]
    assert "Informational" in ops and "changed no judged decision" in ops


def test_a_failing_run_explains_the_overflow(failing_page):
    page = failing_page
    check(page)
    assert "FAILED" in page and "values overflow float16" in page and "NaN or infinite, not drawn" in page
    # a model whose inputs are no (x, y) series gets no series chart (the kit's charts: tests/trendsplit)
    assert "no chart to draw" in page.split("<h2 id=series>")[1].split("<h2 ")[0]


def test_the_summary_and_the_per_op_section_give_the_same_overflow_count(failing, failing_page):
    """Both read the one localisation of the failing pair (on its cases), so their counts agree."""
    page = failing_page
    summary, ops = page.split("<h2 id=errors>")[0], page.split("<h2 id=ops>")[1]
    said = re.findall(r"(\d+) values overflow float16", summary)
    assert said and re.findall(r"(\d+) values overflow float16", ops)[0] == said[0]
    (loc,) = failing.localizations.pairs.values()
    assert f"on {len(loc.cases)} cases" in summary


def test_a_pair_beyond_precision_is_traced_module_by_module(failing, failing_page):
    """The overflowing fp16 pair, class BEYOND, drawn torch module by module (error against float64 by depth)
    with the first module past the factor marked: the one its class names."""
    (beyond,) = [p for p in failing.precision if not p.within]
    assert beyond.modules and beyond.starts_at
    first = next(m for m in beyond.modules if m.overflow or m.ratio > beyond.factor)
    assert beyond.first_module == first and beyond.starts_at.startswith(first.title)
    # the amplifier's `* 1000`, which overflows, was fused into no module's value: named beside the first module
    assert beyond.starts_at == (f"{first.title}, or before it in amplifier (Linear), which no value of the program "
                                "maps to")
    section = failing_page.split("<h2 id=modules>")[1].split("<h2 id=ops>")[0]
    assert section.count("<img") == 1 and f"it starts at {beyond.starts_at}" in section
    assert all(m.title in section for m in beyond.modules)


def test_flips_are_summarised_and_the_full_list_folded(failing, failing_page):
    decisions = failing_page.split("<h2 id=decisions>")[1].split("<h2 id=series>")[0]
    listed = sum(len(c.flips) + len(c.near_flips) for c in failing.comparisons)
    assert listed > 3
    before, folded = decisions.split("<details>", 1)
    assert before.count("<tr>") == 0 and folded.count("<tr>") == listed + 1  # header + every listed flip
    assert f"All {listed} listed flips" in folded


def test_ops_show_the_torch_module_beside_the_mil_name(passing, passing_page):
    ops = passing_page.split("<h2 id=ops>", 1)[1]
    overview = passing.localizations.overview
    assert any(o.module for o in overview.ops)
    diverged = [o for o in overview.ops if o.diverged]
    for o in diverged:
        assert f"<td class=l>{o.name}</td><td class=l>{o.op_type}</td><td class=l>{o.module or '—'}</td>" in ops


def test_every_pair_of_the_error_histograms_stays_visible(failing):
    """Curves that coincide (two fp16 profiles) must not hide each other: each pair has its own
    line style, and later pairs are drawn thinner than earlier ones."""
    fig = html_report.error_figure(failing)
    try:
        for ax in fig.axes:
            lines = [(p.get_linestyle(), p.get_linewidth()) for p in ax.patches]
            assert len(lines) == len(failing.comparisons)
            assert len({style for style, _ in lines}) == len(lines)
            widths = [w for _, w in lines]
            assert widths == sorted(widths, reverse=True) and len(set(widths)) == len(widths)
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_the_report_draws_only_on_saved_data(failing, failing_page, tmp_path, monkeypatch):
    """From the saved comparison and localisation files alone: the same page, and nothing run."""
    from harness.mil.interpreter import Interpreter
    from harness.parity.verdict import ParityReport

    saved = ParityReport.read(failing.write(tmp_path / "comparison.json"))

    def forbidden(*_args, **_kwargs):
        raise AssertionError("the report ran something")

    monkeypatch.setattr(Interpreter, "run", forbidden)
    monkeypatch.setattr("harness.export.export_model", forbidden)
    assert html_report.render(saved) == failing_page


def test_thresholds_and_limits_come_from_the_saved_data(failing):
    import dataclasses

    from harness.records import Localization

    moved = dataclasses.replace(failing, threshold=0.3)
    assert "from the 0.3 threshold" in html_report._decisions(moved)
    (loc,) = failing.localizations.pairs.values()
    strict = Localization.from_dict({**loc.to_dict(), "rel_limit": 0.05})
    fig = html_report.op_figure(strict)
    try:
        limits = [line.get_ydata()[0] for line in fig.axes[0].lines]
        assert limits == [0.05]
        assert any("per-op limit (5%)" in t.get_text() for t in fig.axes[0].texts)
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_a_run_where_nothing_compared_still_renders(series_model, series_export):
    from harness.backends.coreml import CoreMLBackend

    if not CoreMLBackend.unavailable_reason():
        pytest.skip("needs a machine without CoreML")
    _, folder = series_export
    report = steps.parity(series_model, parse_backends("coreml"), n=10, seed=0, folder=folder)
    page = html_report.render(report)
    check(page)
    assert "No comparison ran" in page
