"""The verdict cannot be made to lie: no PASS without a judgment, NaN anywhere fails, a model whose
outputs ignore its inputs proves nothing, and strings from files cannot fake or hide a verdict.

Each test was written against an attack that made the verdict say PASS (or hid it); the
Hypothesis tests cover the attack's class, not only the example.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch import nn

from harness import api
from harness.backends.coreml import CoreMLBackend
from harness.parity.compare import compare
from harness.parity.tolerances import POLICIES
from harness.parity.verdict import BackendRun, ParityReport
from harness.report.text import format_report
from harness.results import Inputs, ResultsError
from tests.user_model import tiny_vision

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = str(Path(tiny_vision.__file__)) + ":describe_model"
RULES = ("threshold", "argmax", "none")


class ConstantAfterBatchNorm(nn.Module):
    """An untrained BatchNorm net whose output is one value whatever the input (the filed attack)."""

    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm1d(6)
        self.head = nn.Linear(6, 4)
        with torch.no_grad():
            self.head.weight.zero_()
            self.head.bias.fill_(0.164)

    def forward(self, x):
        return torch.sigmoid(self.head(self.bn(x)))


def constant_model():
    return api.describe("constant-bn", lambda: api.seeded(ConstantAfterBatchNorm), inputs={"x": (None, 6)},
                        outputs={"y": (None, 4)}, decision="threshold")


# -- compare: the class of vacuous and non-finite references ----------------------------------------

shapes = st.tuples(st.integers(2, 12), st.integers(1, 5), st.integers(2, 4))
finite32 = st.floats(-1e4, 1e4, width=32)


@given(row=hnp.arrays(np.float32, st.tuples(st.integers(1, 3), st.integers(2, 4)), elements=finite32),
       cases=st.integers(1, 40), policy=st.sampled_from(sorted(POLICIES)), rule=st.sampled_from(RULES),
       wobble=st.floats(0, 1))
def test_outputs_that_do_not_vary_with_the_inputs_are_never_a_pass(row, cases, policy, rule, wobble):
    reference = np.broadcast_to(row, (cases, *row.shape)).copy()
    # a candidate that ignores its inputs: the reference's value everywhere, nudged within the allowance
    candidate = reference + np.float32(wobble * POLICIES[policy].atol / 2)
    c = compare(reference, candidate, policy=POLICIES[policy], decision=rule)
    assert c.verdict != "pass" and not c


@given(shape=shapes, where=st.data(), bad=st.sampled_from([np.nan, np.inf, -np.inf]),
       policy=st.sampled_from(sorted(POLICIES)), rule=st.sampled_from(RULES), side=st.sampled_from(["ref", "cand"]))
def test_nan_or_infinity_on_either_side_fails_under_every_policy_and_rule(shape, where, bad, policy, rule, side):
    reference = np.random.default_rng(shape[0]).uniform(0, 1, shape).astype(np.float32)
    candidate = reference.copy()
    index = tuple(where.draw(st.integers(0, n - 1)) for n in shape)
    (reference if side == "ref" else candidate)[index] = bad
    c = compare(reference, candidate, policy=POLICIES[policy], decision=rule)
    assert c.verdict == "fail" and not c and not c.finite


def test_a_nan_reference_near_the_threshold_fails_the_decisions_policy():
    """The filed example: fp16 judges decisions, and a NaN landed in "near threshold", not judged."""
    reference = np.random.default_rng(0).uniform(0, 1, (30, 8)).astype(np.float32)
    reference[3, 2] = np.nan
    c = compare(reference, reference.copy(), policy=POLICIES["fp16"], decision="threshold")
    assert c.verdict == "fail" and c.reference_non_finite == 1


def test_outputs_that_vary_pass_and_one_case_proves_nothing():
    varying = np.random.default_rng(1).uniform(0, 1, (20, 8)).astype(np.float32)
    assert compare(varying, varying.copy(), policy=POLICIES["fp32"]).verdict == "pass"
    one = compare(varying[:1], varying[:1].copy(), policy=POLICIES["fp32"])
    assert one.verdict == "inconclusive" and "one case" in one.inconclusive


def test_the_spread_merges_across_chunks_as_one_comparison():
    from harness.parity.compare import merge

    rng = np.random.default_rng(2)
    row = rng.uniform(0, 1, (1, 8)).astype(np.float32)
    ref = np.repeat(row, 30, axis=0)
    ref[25] = rng.uniform(0, 1, 8)  # only the second chunk's cases vary
    whole = compare(ref, ref.copy(), policy=POLICIES["fp16"])
    parts = merge(compare(ref[:20], ref[:20].copy(), policy=POLICIES["fp16"]),
                  compare(ref[20:], ref[20:].copy(), policy=POLICIES["fp16"]), 20)
    assert compare(ref[:20], ref[:20].copy(), policy=POLICIES["fp16"]).verdict == "inconclusive"
    assert whole.verdict == parts.verdict == "pass"


# -- the whole pipeline: API, CLI, plugin, saved report ---------------------------------------------

def test_a_constant_model_is_inconclusive_in_the_api_the_text_and_the_html(tmp_path):
    report = api.parity(constant_model(), "torch,onnxruntime", n=40, folder=tmp_path / "export")
    assert report.status == "INCONCLUSIVE" and not report
    text = api.format_report(report)
    assert "do not vary with the inputs" in text and text.splitlines()[-1].startswith("INCONCLUSIVE")
    page = api.report(report, tmp_path / "report.html").read_text()
    assert 'class="banner inconclusive"' in page and "proved nothing" in page
    saved = ParityReport.read(report.write(tmp_path / "comparison.json"))  # read back, still not a pass
    assert saved.status == "INCONCLUSIVE" and "do not vary" in saved.comparisons[0].inconclusive


def test_a_parity_run_with_no_judged_pair_is_inconclusive_naming_what_did_not_run(harness_export):
    spec = api.load(EXAMPLE)
    folder = harness_export(spec)
    alone = api.parity(spec, "torch", n=8, folder=folder)
    assert alone.status == "INCONCLUSIVE" and not alone and "no pair was judged" in alone.headline
    reason = CoreMLBackend.unavailable_reason()
    if reason is None:
        pytest.skip("real CoreML runs here: every pair is judged")
    mac_only = api.parity(spec, "torch,coreml@fp32", n=8, folder=folder)
    assert mac_only.status == "INCONCLUSIVE" and reason in mac_only.headline and "coreml@fp32" in mac_only.headline


def _harness(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


def test_compare_of_the_reference_alone_or_with_an_unavailable_device_exits_1(tmp_path):
    from tests import runs

    done = runs.run()
    reference, device = done.results[0], done.results[2]
    folder = runs.write(tmp_path / "run", dataclasses.replace(done, results=(reference, device)))
    torch_file = folder / reference.file_name
    alone = _harness("compare", str(torch_file), cwd=tmp_path)
    assert alone.returncode == 1 and alone.stdout.splitlines()[-1].startswith("INCONCLUSIVE"), alone.stdout
    unavailable = dataclasses.replace(device, status="unavailable", reason="the phone had no model", outputs={})
    unavailable.write(folder / "phone.json")
    with_phone = _harness("compare", str(torch_file), str(folder / "phone.json"), cwd=tmp_path)
    assert with_phone.returncode == 1 and "the phone had no model" in with_phone.stdout.splitlines()[-1]
    both = _harness("compare", str(folder), cwd=tmp_path)
    assert both.returncode == 0 and both.stdout.splitlines()[-1].startswith("PASSED: 2 of 2 pairs judged")


@pytest.mark.usefixtures("converters_imported")
def test_the_plugin_skips_with_the_reason_when_a_requested_backend_cannot_run(pytester):
    reason = CoreMLBackend.unavailable_reason()
    if reason is None:
        pytest.skip("real CoreML runs here")
    pytester.makepyfile(f"""
        from harness import api

        def test_on_the_phone(harness_parity):
            harness_parity(api.load({EXAMPLE!r}), "torch,onnxruntime,coreml@fp16", n=8)

        def test_nothing_varies(harness_parity):
            import importlib.util
            spec = importlib.util.spec_from_file_location("attacks", {__file__!r})
            attacks = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(attacks)
            harness_parity(attacks.constant_model(), "torch,onnxruntime", n=16)

        def test_listed(harness_parity):
            harness_parity(api.load({EXAMPLE!r}), ["torch", "onnxruntime"], n=8)

        def test_empty(harness_parity):
            harness_parity(api.load({EXAMPLE!r}), "", n=8)

        def test_twice(harness_parity):
            harness_parity(api.load({EXAMPLE!r}), "torch,torch", n=8)

        def test_unknown(harness_parity):
            harness_parity(api.load({EXAMPLE!r}), "torch,tflite", n=8)
    """)
    result = pytester.runpytest("-p", "no:cacheprovider", "-rs", "-p", "no:randomly")
    result.assert_outcomes(skipped=1, failed=4, passed=1)
    result.stdout.fnmatch_lines(["*parity inconclusive for constant-bn*", f"*coreml@fp16*cannot run here: {reason}*"])
    # the variations: a list is the comma list; "" names no backend (it ran the defaults, then skipped for
    # CoreML); a backend named twice was judged against itself and passed; each mistake is one line
    result.stdout.fnmatch_lines(["*harness_parity: no backend named*", "*harness_parity: torch@fp32 named twice*",
                                 "*harness_parity: unknown backend 'tflite'*"])
    assert "Traceback" not in result.stdout.str() and "UsageError" not in result.stdout.str()


# -- strings from files cannot fake a verdict --------------------------------------------------------

hostile = st.text(st.characters(codec="utf-8", categories=["Cc", "Cf", "Zl", "Zp", "Lu", "Nd", "Zs"]),
                  min_size=1, max_size=40)


def _report(where: str, reason: str, label: str) -> ParityReport:
    return ParityReport(model="m", weights_source=reason, trained=True, inputs=Inputs(0, 2, "0" * 64), kinds={},
                        reference="torch@fp32", threshold=0.5,
                        runs=(BackendRun("torch@fp32", "fp32", "ran"),
                              BackendRun(label, "fp16", "unavailable", reason, 0.0, where)),
                        comparisons=())


@given(where=hostile, reason=hostile, label=hostile)
@example(where="0", reason="0", label="PASSED")  # a label at the start of its line read as a verdict
def test_device_and_reason_strings_cannot_move_the_cursor_or_fake_a_line(where, reason, label):
    text = format_report(_report(where, reason, label))
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]", text)
    assert text.splitlines()[-1].startswith("INCONCLUSIVE")  # the real verdict, last, and nothing after it
    assert sum(line.startswith(("PASSED", "FAILED", "INCONCLUSIVE")) for line in text.splitlines()) == 1


@given(device=hostile)
def test_a_progress_line_carrying_a_file_s_string_is_one_escaped_line(device):
    """Progress lines name pairs, and a pair's label carries a results file's device when two runs share a
    label (`localizing coreml-emulated@fp16[fp16] on <device>`): stderr showed it raw."""
    import io

    from harness.progress import Progress

    err = io.StringIO()
    Progress(stream=err)(f"localizing coreml-emulated@fp16[fp16] on {device}")
    assert err.getvalue().count("\n") == 1 and err.getvalue().endswith("\n")
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]",
                         err.getvalue()[:-1])


def test_the_filed_fake_passed_line_is_shown_escaped():
    text = format_report(_report("iPhone15,2\n\nPASSED\n\x1b[8m", "r", "coreml@fp16"))
    assert "\\n\\nPASSED\\n\\x1b[8m" in text and "\x1b" not in text


def _string_leaves(doc, path=()):
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _string_leaves(v, (*path, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _string_leaves(v, (*path, i))
    elif not isinstance(doc, bool) and doc is not None:
        yield path


def _set(doc, path, value):
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


MARKUP = '<img src=x onerror="alert(1)">'


def test_a_comparison_file_whose_fields_hold_markup_renders_escaped_or_is_refused(tmp_path, harness_export,
                                                                                  monkeypatch):
    """Every string and number field of a real comparison file, in turn, replaced with markup: the
    report either refuses the file (one line, naming it) or shows the markup as text."""
    import matplotlib.pyplot as plt

    from harness.report import html as html_report

    spec = api.load(EXAMPLE)
    report = api.parity(spec, "torch,onnxruntime", n=16, folder=harness_export(spec))
    html_report.render(report)  # the figures are pictures, not the page's text: drawn once, stubbed in the loop
    monkeypatch.setattr(html_report, "_png", lambda fig: "")
    monkeypatch.setattr(html_report, "error_figure", lambda report: None)
    monkeypatch.setattr(plt, "subplots", lambda *a, **k: (mock.MagicMock(), mock.MagicMock()))

    original = json.loads(report.write(tmp_path / "c.json").read_text())
    rendered = refused = 0
    for path in _string_leaves(original):
        if path[0] in ("format", "version", "figures"):
            continue
        doc = json.loads(json.dumps(original))
        _set(doc, path, MARKUP)
        (tmp_path / "c.json").write_text(json.dumps(doc))
        try:
            loaded = ParityReport.read(tmp_path / "c.json")
        except ResultsError:
            refused += 1
            continue
        page = html_report.render(dataclasses.replace(loaded, figures={}))
        assert MARKUP not in page, path
        rendered += 1
    assert rendered > 20 and refused > 20  # both kinds of field were tried


def test_the_figures_fields_of_a_comparison_file_render_as_text(tmp_path):
    """The four fields filed as unescaped: near-threshold flips, the series' counts, the near-agreed rows."""
    from harness.report import html as html_report

    figures = {"near_agreed": [{"case": MARKUP, "kind": MARKUP, "position": MARKUP, "reference": MARKUP}],
               "series": {"drawable": True, "candidates": [MARKUP], "cases": [], "confident": MARKUP,
                          "near_only": MARKUP, "n": MARKUP}}
    ref = np.random.default_rng(3).uniform(0, 1, (8, 4)).astype(np.float32)
    c = compare(ref, ref.copy(), policy=POLICIES["fp32"], reference_name=MARKUP, candidate_name=MARKUP)
    report = dataclasses.replace(_report(MARKUP, MARKUP, MARKUP), comparisons=(c,), figures=figures, kinds={0: MARKUP})
    page = html_report.render(report)
    assert MARKUP not in page and page.count("&lt;img") >= 8


# -- a saved comparison is read as data from anywhere: checked, never trusted ------------------------

FAILURES = ("numbers", "candidate NaN", "reference NaN", "decision")
#: For each way a comparison fails, the counters an editor would change to make it pass (listings left).
TO_PASS = {"numbers": {"numeric_violations": 0}, "candidate NaN": {"non_finite": 0, "numeric_violations": 0},
           "reference NaN": {"reference_non_finite": 0, "numeric_violations": 0},
           "decision": {"decisions_agreeing": None}}


def _failing(policy: str, failure: str):
    reference = np.random.default_rng(5).uniform(0.6, 0.9, (20, 8)).astype(np.float32)
    reference[::2] = 1.0 - reference[::2]  # decisions on both sides, far from the threshold
    candidate = reference.copy()
    if failure == "numbers":
        candidate[3, 2] += np.float32(0.05)
    elif failure == "candidate NaN":
        candidate[3, 2] = np.nan
    elif failure == "reference NaN":
        reference[3, 2] = np.nan
    else:  # 3 of 160 decisions: past every policy's budget (int8 allows 1 flip in 100)
        candidate[3, :3] = 1.0 - candidate[3, :3]
    return compare(reference, candidate, policy=POLICIES[policy], decision="threshold")


@given(policy=st.sampled_from(sorted(POLICIES)), failure=st.sampled_from(FAILURES))
def test_a_failed_comparison_whose_counts_were_edited_to_pass_is_refused(tmp_path_factory, policy, failure):
    """The verdict is worked out again from a saved comparison's figures (its saved status is never read):
    a failure whose deciding count was edited to pass, its other figures left, contradicts them."""

    c = _failing(policy, failure)
    if c.verdict != "fail":  # fp16 and int8 do not judge numbers: that failure is not one there
        assert failure == "numbers" and not POLICIES[policy].judge_numeric
        return
    path = dataclasses.replace(_report("d", "r", "x"), comparisons=(c,)).write(tmp_path_factory.mktemp("c") / "c.json")
    doc = json.loads(path.read_text())
    doc.update(status="PASSED", passed=True, headline="PASSED")
    assert ParityReport.read(_saved(path, doc)).status == "FAILED"  # the saved status alone: not believed
    (saved,) = doc["comparisons"]
    saved.update(verdict="pass", passed=True, **{k: saved["decisions_compared"] if v is None else v
                                                  for k, v in TO_PASS[failure].items()})
    with pytest.raises(ResultsError, match="the figures were edited"):
        ParityReport.read(_saved(path, doc))
    saved.update(**{k: c.to_dict()[k] for k in TO_PASS[failure]}, policy={**saved["policy"], "atol": 1e9})
    with pytest.raises(ResultsError, match="is not the harness's policy"):
        ParityReport.read(_saved(path, doc))


def _saved(path: Path, doc: dict) -> Path:
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture(scope="module")
def saved_comparison(trendsplit_run, tmp_path_factory) -> dict:
    """A real comparison file with every section a file can hold: a device, series, histograms, flips."""
    from harness.parity import steps

    reference, onnx = trendsplit_run.results
    device = dataclasses.replace(onnx, backend="coreml@fp32[ALL]", option="ALL",
                                 loaded_weights_sha256=trendsplit_run.cases.coreml_weights["fp32"])
    report = steps.compare(trendsplit_run.cases, (reference, onnx, device))
    return json.loads(report.write(tmp_path_factory.mktemp("saved") / "c.json").read_text())


def _leaves(doc, path=()):
    """Every leaf's path, two items of each list (an empty list is a leaf of its own)."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(doc, list) and doc:
        for i, v in enumerate(doc[:2]):
            yield from _leaves(v, (*path, i))
    else:
        yield path


#: A value of every kind a JSON field can hold instead of its own, and the numbers no reader expects.
NASTY = [MARKUP, "", None, True, [], {}, -1, 2**70, 0.5, float("inf"), float("-inf"), float("nan")]


anything = (st.text(max_size=12) | st.just(MARKUP) | st.none() | st.booleans() | st.integers(-2**70, 2**70)
            | st.floats() | st.lists(st.integers(-3, 3), max_size=3) | st.dictionaries(st.text(max_size=3),
                                                                                         st.integers(), max_size=2))


@settings(max_examples=max(150, settings().max_examples))  # ~10 ms an example: most files are refused
@given(data=st.data(), value=st.sampled_from(NASTY) | anything)
def test_any_field_of_a_saved_comparison_is_refused_or_shown_never_a_crash(saved_comparison, tmp_path_factory,
                                                                           data, value):
    """Every field (figures, devices, runs, spread included), replaced by any JSON value: the report either
    refuses the file (one line) or shows it; a figure's data of the wrong shape stopped it with a traceback.
    (matplotlib is stubbed here for speed, as in the markup test; the figures are drawn by the test below.)"""
    import copy

    import matplotlib.pyplot as plt

    from harness.report import html as html_report
    from harness.text import printable

    leaves = [p for p in _leaves(saved_comparison) if p[0] not in ("format", "version")]
    sections = sorted({p[:2] if p[0] == "figures" else p[:1] for p in leaves})  # each as likely as the rest
    section = data.draw(st.sampled_from(sections))
    where = data.draw(st.sampled_from([p for p in leaves if p[:len(section)] == section]))
    doc = copy.deepcopy(saved_comparison)
    _set(doc, where, value)
    path = _saved(tmp_path_factory.mktemp("c") / "c.json", doc)
    try:
        loaded = ParityReport.read(path)
    except ResultsError as refused:
        assert str(path) in str(refused) and "\n" not in printable(refused)  # one line, as the command line shows it
        return
    format_report(loaded)
    with mock.patch.object(html_report, "_png", lambda fig: ""), \
            mock.patch.object(html_report, "error_figure", lambda report: None), \
            mock.patch.object(plt, "subplots", lambda *a, **k: (mock.MagicMock(), mock.MagicMock())):
        assert MARKUP not in html_report.render(loaded)  # the page's text; its figures are drawn above, for real


def test_any_field_of_a_saved_localization_is_refused_or_shown_never_a_crash(tmp_path):
    """The localisation a comparison names is read beside it; every field, in turn, holds every kind of
    value: `cases: [Infinity]` was an OverflowError, which no reader caught (internal error)."""
    import copy

    import matplotlib.pyplot as plt

    from harness.mil.localize import Localization, OpDivergence
    from harness.parity.verdict import Localizations
    from harness.report import html as html_report

    ops = (OpDivergence("var_1", "conv", 0.1, 0.2, 3, 0.5, module="body.0 (Conv1d)"),
           OpDivergence("var_2", "sigmoid", 1e-4, 1e-3, 0, 0.5))
    loc = Localization("fp32", "fp16", ops, cases=(0, 3))
    report = dataclasses.replace(_report("d", "r", "x"), localizations=Localizations({"x vs torch@fp32": loc}, loc))
    path = report.write(tmp_path / "c.json")
    sidecar = path.with_name("c.localization.json")
    original = json.loads(sidecar.read_text())
    refused = shown = 0
    for where in [p for p in _leaves(original) if p[0] not in ("format", "version")]:
        for value in NASTY:
            doc = copy.deepcopy(original)
            _set(doc, where, value)
            _saved(sidecar, doc)
            try:
                loaded = ParityReport.read(path)
            except ResultsError as err:
                assert str(path) in str(err)
                refused += 1
                continue
            with mock.patch.object(html_report, "_png", lambda fig: ""), \
                    mock.patch.object(plt, "subplots", lambda *a, **k: (mock.MagicMock(), mock.MagicMock())):
                assert MARKUP not in html_report.render(loaded), where
            shown += 1
    assert refused and shown


def test_a_comparison_read_beside_another_run_s_localization_is_refused(tmp_path):
    """`compare --json c.json` writes the localisation, then the comparison: killed between the two, the
    old comparison stood beside the new run's localisation, and `report` showed where another run diverged."""
    from harness.mil.localize import Localization, OpDivergence
    from harness.parity.verdict import Localizations

    def report(op: str) -> ParityReport:
        loc = Localization("fp32", "fp16", (OpDivergence(op, "conv", 0.1, 0.2, 3, 0.5),), cases=(0,))
        return dataclasses.replace(_report("d", "r", "x"), localizations=Localizations({"x vs torch@fp32": loc}))

    old = report("var_old").write(tmp_path / "c.json")
    assert ParityReport.read(old).localizations.pairs["x vs torch@fp32"].ops[0].name == "var_old"
    new = report("var_new").write(tmp_path / "next" / "c.json")
    (tmp_path / "c.localization.json").write_bytes((new.parent / "c.localization.json").read_bytes())  # the kill
    with pytest.raises(ResultsError, match="not the one written with it"):
        ParityReport.read(old)


MATHTEXT = [r"$\undefined{x}^$", "$", "a$b$c", r"\$x$", "$_$", r"$\frac{1}$"]


@settings(max_examples=min(100, settings().max_examples))  # a figure drawn per example, ~40 ms; 9 symbols
@given(text=st.text(st.sampled_from("$\\^_{}ax \n"), max_size=12) | st.sampled_from(MATHTEXT))
def test_text_drawn_in_a_figure_is_never_read_as_mathematics(text):
    """matplotlib reads `$...$` as mathematics: a label from a file failed to parse and stopped the report."""
    import matplotlib.pyplot as plt

    from harness.report.html import _plain

    fig, ax = plt.subplots(figsize=(1, 1))
    try:
        ax.set_title(_plain(text))
        ax.set_yticks([0], [_plain(text)])
        fig.canvas.draw()
        assert not ax.title._preprocess_math(ax.title.get_text())[1]  # drawn as text, not as mathematics
    finally:
        plt.close(fig)


def test_a_saved_comparison_whose_names_hold_mathematics_draws_its_report(saved_comparison, tmp_path):
    """The filed markup test stubbed the figures out; drawn for real, `$\\undefined$` in a pair's name or a
    case's kind was an internal error (exit 1) instead of a report."""
    import copy

    from harness import cli

    doc = copy.deepcopy(saved_comparison)
    for c, bad in zip(doc["comparisons"], MATHTEXT, strict=False):
        c["candidate"] = f"coreml {bad}"
    for case, bad in zip(doc["figures"]["series"]["cases"], MATHTEXT, strict=False):
        case["kind"] = bad
    path = _saved(tmp_path / "c.json", doc)
    assert cli.main(["report", str(path), "--html", str(tmp_path / "r.html")]) == 0
    assert html.escape(MATHTEXT[0]) in (tmp_path / "r.html").read_text()


# -- the allowance follows what the model sees -------------------------------------------------------

@pytest.fixture(scope="module")
def trendsplit_run(trendsplit, trendsplit_export):
    """torch and onnxruntime on 1,000 of trendsplit's cases, whose raw inputs reach 1e5 (clamped to 100)."""
    return api.run(trendsplit, "torch,onnxruntime", n=1000, folder=trendsplit_export[1])


def _largest_input_cases(done, k: int = 7) -> np.ndarray:
    feeds = done.cases.cases.inputs
    return np.argsort(np.abs(feeds).reshape(len(feeds), -1).max(axis=1))[-k:]


def test_outputs_collapsed_on_the_largest_input_cases_fail_fp32(trendsplit_run, tmp_path):
    """The filed attack: trendsplit clamps its input at 100, but raw inputs reach 1e5, and an allowance
    scaled by the raw input let outputs collapsed to 0.5 +- 5e-4 on the 7 largest-input cases pass fp32."""
    from harness.parity import steps

    done = trendsplit_run
    feeds = done.cases.cases.inputs
    largest = _largest_input_cases(done)
    assert np.abs(feeds[largest]).max() > 1e4  # the attack needs raw inputs far past the clamp
    reference, device = done.results
    collapsed = device.outputs["split_probs"].copy()
    noise = np.random.default_rng(0).uniform(-5e-4, 5e-4, collapsed[largest].shape)
    collapsed[largest] = (0.5 + noise).astype(np.float32)
    forged = dataclasses.replace(device, backend="coreml@fp32[ALL]", option="ALL", outputs={"split_probs": collapsed},
                                 loaded_weights_sha256=done.cases.coreml_weights["fp32"])
    report = steps.compare(done.cases, (reference, forged))
    (c,) = report.comparisons or pytest.fail(api.format_report(report))
    assert c.verdict == "fail" and c.numeric_violations > 0, api.format_report(report)
    assert c.max_input_scale < 1e4 < np.abs(feeds).max()  # what the layers saw (~1e3), not the raw 1e5
    assert c.max_allowance < 0.1
    # the saved reference carries the scale: judged from files, the verdict is the same
    reference.write(tmp_path / "torch.json")
    forged.write(tmp_path / "device.json")
    done.cases.write(tmp_path / "cases.json")
    assert not api.compare([tmp_path / "torch.json", tmp_path / "device.json"], cases=tmp_path / "cases.json")


@pytest.mark.parametrize("order", ["torch first", "onnxruntime first, no torch", "device first, torch after",
                                   "onnxruntime first, torch last"])
def test_collapsed_outputs_fail_fp32_whichever_run_is_the_reference(trendsplit_run, order):
    """A variation: the collapse keeps every decision (0.5 +- 3e-4 on the side the reference took), and the
    reference is not torch. A reference that measured nothing let the raw inputs (1e5) scale the allowance
    to ~7, and the collapse passed; the layers saw the same ~1e3 whichever run is the reference."""
    from harness.parity import steps

    done = trendsplit_run
    largest = _largest_input_cases(done)
    reference, onnx = done.results
    collapsed = onnx.outputs["split_probs"].copy()
    collapsed[largest] = np.where(collapsed[largest] > 0.5, 0.5003, 0.4997).astype(np.float32)
    device = dataclasses.replace(onnx, backend="coreml@fp32[ALL]", option="ALL", outputs={"split_probs": collapsed},
                                 loaded_weights_sha256=done.cases.coreml_weights["fp32"])
    runs = {"torch first": (reference, device), "onnxruntime first, no torch": (onnx, device),
            "device first, torch after": (device, reference),
            "onnxruntime first, torch last": (onnx, device, reference)}[order]
    report = steps.compare(done.cases, runs)
    pair = next(c for c in report.comparisons if {c.reference, c.candidate} >= {"coreml@fp32[ALL]"})
    assert pair.verdict == "fail" and pair.numeric_violations > 0 and pair.decisions_ok, api.format_report(report)
    assert report.status == "FAILED" and pair.max_allowance < 0.1


@pytest.fixture(scope="module")
def trendsplit_built(trendsplit):
    from harness.parity import steps

    return steps.built(trendsplit)  # its weights loaded once


@given(inflated=st.integers(1, 40), factor=st.floats(1.01, 1e6))
@settings(max_examples=min(5, settings().max_examples))  # each example judges 1,000 cases and runs torch on 16
def test_a_torch_reference_claiming_more_activations_than_the_model_reaches_is_refused(trendsplit_built,
                                                                                      trendsplit_run, inflated,
                                                                                      factor):
    """The reference's activations scale every allowance, and a torch file says what they were: inflated
    on the 7 cases whose outputs were collapsed (or on any others), the collapse passed. With the model at
    hand, the largest claims are measured again; any claim left unmeasured is below those."""
    from harness.parity import steps

    trendsplit, done = trendsplit_built, trendsplit_run
    reference, onnx = done.results
    largest = _largest_input_cases(done, k=inflated)
    activations = reference.activations.copy()
    activations[largest] *= factor
    forged = dataclasses.replace(reference, activations=activations)
    try:
        steps.compare(done.cases, (forged, onnx), spec=trendsplit)
    except ResultsError as refused:
        assert "model 'trendsplit' measures" in str(refused)
    else:  # accepted: then no claim is past what the model's layers reach on these cases
        assert activations.max() <= reference.activations.max() * (1 + 1e-3)


def test_the_filed_collapse_with_its_activations_inflated_is_refused_when_the_model_is_known(trendsplit_built,
                                                                                              trendsplit_run):
    from harness.parity import steps

    trendsplit, done = trendsplit_built, trendsplit_run
    reference, onnx = done.results
    largest = _largest_input_cases(done)
    collapsed = onnx.outputs["split_probs"].copy()
    collapsed[largest] = np.where(collapsed[largest] > 0.5, 0.5003, 0.4997).astype(np.float32)
    activations = reference.activations.copy()
    activations[largest] = 1e4  # allowance 0.5 there
    runs = (dataclasses.replace(reference, activations=activations), dataclasses.replace(
        onnx, backend="coreml@fp32[ALL]", option="ALL", outputs={"split_probs": collapsed},
        loaded_weights_sha256=done.cases.coreml_weights["fp32"]))
    assert steps.compare(done.cases, runs).status == "PASSED"  # a forged truth, unchecked without the model
    with pytest.raises(ResultsError, match="claims activations 10000 on case"):
        steps.compare(done.cases, runs, spec=trendsplit)
    assert steps.compare(done.cases, (reference, onnx), spec=trendsplit).status == "PASSED"  # the true claim


@given(magnitude=st.floats(1.0, 1e6), seen=st.floats(0.0, 1e5), policy=st.sampled_from(sorted(POLICIES)),
       shape=st.tuples(st.integers(2, 8), st.integers(1, 6)))
def test_an_allowance_is_atol_times_the_scale_plus_rtol_of_the_reference_never_their_product(magnitude, seen, policy,
                                                                                               shape):
    """rtol is relative to the reference already: scaled again by the case's magnitude (which holds the
    reference's own), fp32 allowed 2% on outputs of 1,300 and 100% on outputs of 1e5."""
    p = POLICIES[policy]
    reference = (magnitude * np.random.default_rng(shape[0]).uniform(0.5, 1.0, shape)).astype(np.float32)
    c = compare(reference, reference, policy=p, decision="none", activations=np.full(shape[0], seen))
    top = float(np.abs(reference.astype(np.float64)).max())
    bound = p.atol * max(1.0, seen, top) + p.rtol * top
    assert c.max_allowance <= bound * (1 + 1e-12)
    off = reference * np.float32(1 + 4 * (p.rtol + p.atol * max(1.0, seen, top) / float(reference.min())))
    assert compare(reference, off, policy=p, decision="none", activations=np.full(shape[0], seen)).numeric_violations


def test_the_activation_peak_is_what_the_layers_saw_and_leaves_the_outputs_alone():
    from harness.backends.pytorch import ActivationPeak

    class Clamped(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 2)

        def forward(self, x):
            return self.lin(torch.clamp(x, -10, 10))

    model = api.seeded(Clamped).eval()
    x = torch.tensor([[1e5, 0.0, 0.0], [0.5, -0.5, 0.25]])
    plain = model(x)
    with torch.inference_mode(), ActivationPeak(model, 2) as peak:
        hooked = model(x)
    assert torch.equal(plain, hooked) and not model.lin._forward_hooks  # hooks gone, outputs untouched
    expected = torch.maximum(torch.clamp(x, -10, 10).abs().amax(1), plain.detach().abs().amax(1))
    assert np.allclose(peak.values.numpy(), expected.double().numpy())  # the clamped 10, not 1e5


def test_an_error_naming_a_file_s_device_shows_it_escaped(tmp_path):
    """A refused file's message names its device: that string cannot rewrite the terminal either."""
    from tests import runs

    done = runs.run()
    forged = dataclasses.replace(done.results[2], model="another", provenance={"device": "\x1b[2K\rPASSED\n"})
    folder = runs.write(tmp_path / "run", dataclasses.replace(done, results=(*done.results[:2], forged)))
    refused = _harness("compare", str(folder), cwd=tmp_path)
    assert refused.returncode == 2 and "\x1b" not in refused.stderr and "\\x1b[2K\\rPASSED\\n" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
