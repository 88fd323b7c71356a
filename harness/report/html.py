"""A self-contained HTML parity report: tables, and matplotlib figures embedded as PNG.

Sections: summary, histograms of absolute and ULP error per pair, decisions (flips summarised,
the full list folded away), example watch series drawn as the app's chart with each
backend's split lines, and the per-op divergence of the fp16 program. Everything drawn comes
from the `ParityReport` (its saved figures, localisations and policies): no model, interpreter
or threshold is consulted here.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np

from harness import atomic
from harness.errors import UsageError
from harness.parity.verdict import ParityReport
from harness.records import Localization, PrecisionClass
from harness.report.text import plural, verdict_text

SECTIONS = ("summary", "errors", "decisions", "series", "modules", "ops")
#: Line styles of the error histograms, in drawing order: every pair stays visible where curves coincide.
LINES = (("-", 3.2), ("--", 2.4), ("-.", 1.8), (":", 1.6), ((0, (5, 1, 1, 1)), 1.3), ((0, (1, 3)), 1.2))
#: Flips listed in the decisions summary before the rest are folded into <details>.
FLIPS_SHOWN = 3
STYLE = """
body{font:15px/1.45 -apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;
color:#1d1d1f;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em} h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{padding:.3em .7em;border-bottom:1px solid #eee;text-align:right}
th{background:#f5f5f7;text-align:center} td.l,th.l{text-align:left} td{white-space:nowrap}
td.l{white-space:normal}
.pass{color:#1a7f37;font-weight:600} .fail{color:#c62828;font-weight:600} .muted{color:#6e6e73}
.inconclusive{color:#b26a00;font-weight:600}
.banner{padding:.8em 1em;border-radius:8px;margin:1em 0;font-weight:600}
.banner.passed{background:#e8f5e9} .banner.failed{background:#ffebee} .banner.inconclusive{background:#fff8e1}
.note{background:#fff8e1;padding:.6em 1em;border-radius:6px} img{max-width:100%}
.legend{font-size:.9em;color:#444} details{margin:.4em 0 1em} summary{cursor:pointer;color:#0060df}
"""


def check_drawable() -> None:
    """The page's figures are drawn with matplotlib: where it is missing, say so before anything is written."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise UsageError("the HTML report draws its figures with matplotlib, which is not installed here: "
                         "pip install matplotlib, or leave out --html (the JSON and the table need numpy alone)")


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="figure" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def _e(value, fmt: str = "") -> str:
    """Every value that reaches the page passes here: escaped, and formatted with `fmt` only when it
    is a real number (a comparison file is data from anywhere: a field that should hold a number may
    hold markup, which is then shown as text)."""
    if fmt and isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        return html.escape(format(value, fmt))
    return html.escape(str(value))


def _plain(value) -> str:
    """Text for a figure: matplotlib reads `$...$` as mathematics, so a label from a file could fail to
    parse (and stop the report) or draw as something else. Escaped, every dollar is a dollar."""
    return str(value).replace("$", r"\$")


def _verdict(ok: bool) -> str:
    return '<span class="pass">PASS</span>' if ok else '<span class="fail">FAIL</span>'


def _summary(report: ParityReport) -> str:
    rows = []
    for c in report.comparisons:
        rows.append(
            f"<tr><td class=l>{_e(c.pair)}</td><td>{_e(c.policy.name)}</td>"
            f"<td class={c.verdict}>{_e(verdict_text(c))}</td>"
            f"<td>{_e(c.max_abs, '.2e')}</td><td>{_e(c.max_allowance, '.2e') if c.judges_numbers else '—'}</td>"
            f"<td>{_e(c.mean_abs, '.2e')}</td>"
            f"<td>{'—' if c.non_finite else _e(c.max_ulp, ',')}</td>"
            f"<td>{_e(c.decisions_agreeing, ',')}/{_e(c.decisions_compared, ',')}</td>"
            f"<td>{_e(c.near_threshold, ',')} ({_e(c.near_threshold_flips)} flipped)</td>"
            f"<td>{_e(c.non_finite, ',')}</td></tr>"
        )
    table = (
        "<table><tr><th class=l>candidate vs reference</th><th>policy</th><th>verdict</th><th>max abs</th>"
        f"<th>largest allowance</th><th>mean abs</th><th>max ULP</th><th>decisions agree</th><th>{_near(report)}</th>"
        "<th>NaN/inf</th></tr>" + "".join(rows) + "</table>"
        if rows
        else "<p class=fail>No comparison ran: the reference or every candidate was unavailable.</p>"
    )
    notes = [f"<li><b>{_e(p)}</b>: {_e(d['summary'])}</li>" for p, d in report.diagnoses.items()]
    notes += [f"<li><b>{_e(p.pair)}</b>: <span class={'pass' if p.within else 'fail'}>{_e(p.label)}</span>: "
              f"{_e(p.summary())}</li>" for p in report.precision]  # precision or bug, against float64
    skipped = [f"<li>{_e(r.label)}: {_e(r.status)}: {_e(r.reason)}</li>" for r in report.runs if r.status != "ran"]
    checks = "".join(
        f"<tr><td class=l>{_e(a.artifact)}</td><td>{_verdict(bool(a))}</td>"
        f"<td class=l>{_e(', '.join(f'{k} x{v}' for k, v in a.compute_dtypes.items()))}</td>"
        f"<td class=l>{_e('; '.join(f.detail for f in a.failures) or 'all rules hold')}</td></tr>"
        for a in report.artifact_checks
    )
    policies = {c.policy.name: c.policy for c in report.comparisons}
    return (
        "<h2 id=summary>Summary</h2>"
        + table
        + ("<p><b>Diagnosis: where it diverges, precision or bug</b></p><ul>" + "".join(notes) + "</ul>"
           if notes else "")
        + _devices(report)
        + ("<p class=muted>Not run here:</p><ul class=muted>" + "".join(skipped) + "</ul>" if skipped else "")
        + (
            "<h3>CoreML artifacts, checked without running them</h3><table><tr><th class=l>artifact</th>"
            "<th>verdict</th><th class=l>compute ops by dtype</th><th class=l>findings</th></tr>" + checks + "</table>"
            if checks
            else ""
        )
        + "<h3>Policies</h3><ul>"
        + "".join(
            f"<li><b>{_e(p.name)}</b>: atol {_e(p.atol, 'g')}, rtol {_e(p.rtol, 'g')} "
            "(scaled per case by max(1, what the model's layers saw, max|reference output|); "
            "the largest allowance used is shown per pair), "
            f"decision margin {_e(p.decision_margin, 'g')}. <span class=muted>{_e(p.reason)}</span></li>"
            for p in policies.values()
        )
        + "</ul>"
    )


def _devices(report: ParityReport) -> str:
    """Each device's numbers against every other run: the emulator's measured accuracy, per device."""
    out = []
    for d in report.devices:
        rows = "".join(
            f"<tr><td class=l>{_e(x.backend)}{' <b>(closest)</b>' if x.backend == d.closest else ''}</td>"
            f"<td>{_e(x.policy)}</td><td>{_e(x.mean_abs, '.2e')}</td><td>{_e(x.max_abs, '.2e')}</td>"
            f"<td>{_e(x.decisions_agreeing, ',')}/{_e(x.decisions_compared, ',')}</td>"
            f"<td>{_e(x.verdict.upper())}</td></tr>"
            for x in d.distances)
        out.append(
            f"<h3>Device {_e(d.device)}</h3><p>{_e(d.where or 'device not recorded')}: closest emulation profile "
            f"<b>{_e(d.closest or '— (no emulated run)')}</b> (smallest mean absolute difference).</p>"
            "<table><tr><th class=l>against</th><th>policy</th><th>mean abs</th><th>max abs</th>"
            f"<th>decisions agree</th><th>verdict</th></tr>{rows}</table>")
    return "".join(out)


def error_figure(report: ParityReport):
    """The two histograms (absolute error, ULPs) of every pair, from the report's saved counts."""
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    histograms = report.figures.get("histograms", {})
    for j, c in enumerate(report.comparisons):
        h = histograms.get(c.pair)
        if h is None:
            continue
        style, width = LINES[j % len(LINES)]
        for ax, key in ((ax1, "abs"), (ax2, "ulp")):
            ax.stairs(h[key]["counts"], h[key]["edges"], lw=width, ls=style, label=_plain(c.pair), color=f"C{j}")
    for ax, title, policy_line in (
        (ax1, "absolute error (0 drawn at 1e-12)", True),
        (ax2, "float32 ULPs where |ref| ≥ atol (0 drawn at 0.5)", False),
    ):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("outputs")
        if policy_line:
            for c in {c.policy.name: c for c in report.comparisons}.values():
                ax.axvline(c.policy.atol, color="grey", ls=":", lw=1)
                ax.text(c.policy.atol, ax.get_ylim()[1], f" {_plain(c.policy.name)} atol", fontsize=8, va="top")
    ax1.legend(fontsize=8, loc="upper left", bbox_to_anchor=(0, -0.18), ncol=2, frameon=False)
    return fig


def _errors(report: ParityReport) -> str:
    if not report.comparisons:
        return "<h2 id=errors>Error distributions</h2><p class=muted>No comparison ran.</p>"
    nonfinite = "".join(
        f"<li>{_e(c.pair)}: {_e(c.non_finite, ',')} outputs NaN or infinite, not drawn</li>"
        for c in report.comparisons
        if c.non_finite
    )
    return (
        "<h2 id=errors>Error distributions</h2><p>Every output of every case, per pair. Log scales: "
        "the tail on the right is what the policy judges. Each pair has its own line style, so curves "
        "that coincide stay visible.</p>" + _png(error_figure(report)) + (f"<ul class=fail>{nonfinite}</ul>"
                                                                        if nonfinite else "")
    )


def _flip_rows(report: ParityReport, c, kind: str, flips) -> list[str]:
    return [f"<tr><td class=l>{_e(c.candidate)}</td><td class=l>{_e(kind)}</td><td>{_e(f.case)}</td>"
            f"<td class=l>{_e(report.kinds.get(f.case, '?'))}</td><td>{_e(f.position)}</td>"
            f"<td>{_e(f.reference, '.5f')}</td><td>{_e(f.candidate, '.5f')}</td></tr>" for f in flips]


#: How each decision rule reads, for the page's words: where a decision is made, and what "close" means.
RULES = {
    "threshold": "A decision is an output above the model's threshold; it is judged where the reference is further "
                 "than the policy's margin from the {threshold} threshold.",
    "argmax": "A decision is the class with the largest output; it is judged where the reference's top two classes "
              "are further apart than the policy's margin.",
}
BOUNDARY = {"threshold": "the threshold", "argmax": "a tie of the top two classes"}


def _rules(report: ParityReport) -> list[str]:
    """The decision rules the report's comparisons read outputs by, in order of first appearance."""
    return list(dict.fromkeys(c.decision for c in report.comparisons if c.decision in RULES))


def _boundary(report: ParityReport) -> str:
    """Where the report's decisions are close calls: "the threshold" only when a threshold decides them."""
    rules = _rules(report)
    return BOUNDARY[rules[0]] if len(rules) == 1 else "the decision boundary"


def _near(report: ParityReport) -> str:
    """The short label of a close call, for columns and legends."""
    return "near threshold" if _rules(report) == ["threshold"] else "near the boundary"


def _flip_summary(report: ParityReport, c) -> str:
    """One line per candidate: how many flipped, the first few, and how many are listed below."""
    judged = c.decisions_compared - c.decisions_agreeing
    first = ", ".join(f"case {_e(f.case)} ({_e(report.kinds.get(f.case, '?'))}) position {_e(f.position)}"
                      for f in c.flips[:FLIPS_SHOWN])
    more = f" and {_e(judged - FLIPS_SHOWN, ',')} more" if judged > FLIPS_SHOWN else ""
    return (f"<li><b>{_e(c.pair)}</b>: {_e(plural(judged, 'judged decision'))} flipped"
            + (f" ({first}{more})" if judged else "")
            + f"; {_e(c.near_threshold_flips, ',')} of {_e(c.near_threshold, ',')} near "
              f"{_e(BOUNDARY.get(c.decision, 'the decision boundary'))} flipped (not judged).</li>")


def _decisions(report: ParityReport) -> str:
    import matplotlib.pyplot as plt

    if not report.comparisons:
        return "<h2 id=decisions>Decisions</h2><p class=muted>No comparison ran.</p>"
    fig, ax = plt.subplots(figsize=(11, 0.5 + 0.45 * len(report.comparisons)))
    names = [_plain(c.pair) for c in report.comparisons]
    agree = [c.decisions_agreeing for c in report.comparisons]
    flipped = [c.decisions_compared - c.decisions_agreeing for c in report.comparisons]
    near = [c.near_threshold for c in report.comparisons]
    y = np.arange(len(names))
    ax.barh(y, agree, color="#4caf50", label="agree")
    ax.barh(y, flipped, left=agree, color="#e53935", label="flipped (judged)")
    ax.barh(y, near, left=np.add(agree, flipped), color="#ffb300", label=f"{_near(report)} (not judged)")
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("decisions an app reads")
    for yi, (a, f, n) in enumerate(zip(agree, flipped, near, strict=True)):
        ax.text(a + f + n, yi, f"  {f} flipped, {n} near", va="center", fontsize=8, color="#c62828" if f else "#444")
    ax.set_xlim(0, max(1, max(np.add(np.add(agree, flipped), near))) * 1.25)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=3, frameon=False)
    decided = [c for c in report.comparisons if c.decision != "none"]
    rows = []
    for c in decided:
        rows += _flip_rows(report, c, "flipped", c.flips) + _flip_rows(report, c, f"{_near(report)}, flipped",
                                                                         c.near_flips)
    head = ("<table><tr><th class=l>candidate</th><th class=l>what</th><th>case</th><th class=l>kind</th>"
            "<th>position</th><th>reference</th><th>candidate</th></tr>")
    if rows:
        capped = any(len(c.flips) < c.decisions_compared - c.decisions_agreeing
                     or len(c.near_flips) < c.near_threshold_flips for c in decided)
        listing = ("<ul>" + "".join(_flip_summary(report, c) for c in decided if c.flips or c.near_flips) + "</ul>"
                   f"<details><summary>All {_e(len(rows), ',')} listed flips"
                   + (" (the comparison keeps the first of each kind per pair)" if capped else "")
                   + f"</summary>{head}{''.join(rows)}</table></details>")
    elif report.figures.get("near_agreed"):
        listing = head + "".join(
            f"<tr><td class=l>all</td><td class=l>near threshold, agreed</td><td>{_e(r['case'])}</td>"
            f"<td class=l>{_e(r['kind'])}</td><td>{_e(r['position'])}</td><td>{_e(r['reference'], '.5f')}</td>"
            "<td>—</td></tr>"
            for r in report.figures["near_agreed"]) + "</table>"
    else:
        listing = (f"<p class=muted>No decision flipped, and none was within the margin of {_e(_boundary(report))}."
                   "</p>")
    rules = _rules(report)
    intro = (" ".join(_e(RULES[r].format(threshold=format(report.threshold, "g"))) for r in rules)
             + " Closer ones may legitimately flip on any device and are listed, not judged." if rules else
             "This model's outputs have no decision rule: only their numbers are judged.")
    return "<h2 id=decisions>Decisions</h2><p>" + intro + "</p>" + _png(fig) + listing


def _series(report: ParityReport) -> str:
    import matplotlib.pyplot as plt

    series = report.figures.get("series", {})
    if not series.get("drawable"):
        why = series.get("why", "Not saved with this report.")
        return f"<h2 id=series>Example series</h2><p class=muted>{_e(why)}</p>"
    chosen = series["cases"]
    candidates = series["candidates"]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    rows = max(1, -(-len(chosen) // 2))
    fig, axes = plt.subplots(rows, 2, figsize=(11, 3.1 * rows), squeeze=False)
    for ax, case in zip(axes.ravel(), chosen, strict=False):
        pts = np.asarray(case["points"], dtype=np.float64)
        x, y = pts[:, 0] - pts[0, 0], pts[:, 1]
        ax.plot(x, y, "-o", color="#333", ms=3, lw=1, zorder=3)
        mid = (x + np.append(x[1:], x[-1])) / 2  # between a split's point and the next
        for i in case["splits"]:
            ax.axvline(mid[i], color="#9e9e9e", lw=2.5, alpha=0.6, zorder=1)
        lo, hi = ax.get_ylim()
        who = []
        for j, lab in enumerate(candidates):
            extra, missed = case["extra"][lab], case["missed"][lab]
            colour = colors[j % len(colors)]
            ax.scatter(mid[extra], [hi] * len(extra), marker="v", s=60, color=colour, zorder=4, clip_on=False)
            ax.scatter(mid[missed], [lo] * len(missed), marker="^", s=60, color=colour, zorder=4, clip_on=False)
            if extra or missed:
                who.append(lab)
        ax.set_ylim(lo, hi)
        title = _plain(f"case {case['case']} ({case['kind']})" + (": differs on " + ", ".join(who) if who else ""))
        ax.set_title(title, fontsize=8.5, color="#c62828" if case["confident"] else "#1d1d1f")
        if case["confident"]:
            for spine in ax.spines.values():
                spine.set_color("#c62828")
                spine.set_linewidth(2)
        ax.set_xlabel("days since first reading", fontsize=8)
        ax.set_ylabel("offset (s)", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(chosen):]:
        ax.axis("off")
    fig.tight_layout()
    legend = " ".join(f'<span style="color:{colors[j % len(colors)]}">■ {_e(lab)}</span>'
                      for j, lab in enumerate(candidates))
    return (
        "<h2 id=series>Example series</h2><p>Watch logs drawn as the app charts them. Grey bands: the "
        f"reference's splits ({_e(report.reference)}). A candidate's extra split is a ▼ at the top, a "
        "missed one a ▲ at the bottom, in the candidate's colour. Series with a confident decision "
        f"reversed come first, framed in red: {_e(series['confident'])} of {_e(series['n'])} cases; another "
        f"{_e(series['near_only'])} differ only near the threshold.</p><p class=legend>{legend}</p>" + _png(fig)
    )


def module_figure(p: PrecisionClass):
    """A pair beyond precision, torch module by module in execution order: its deviation from float64 over the
    spread rounding gives there, the class's factor as the line, the first module past it marked."""
    import matplotlib.pyplot as plt

    steps = p.modules
    first = next((i for i, m in enumerate(steps) if m.overflow or m.ratio > p.factor), None)
    fig, ax = plt.subplots(figsize=(11, 3.9))
    top = max([m.ratio for m in steps if not m.overflow] + [p.factor * 10])
    ratios = [top * 3 if m.overflow else max(m.ratio, 1e-3) for m in steps]
    ax.plot(range(len(steps)), ratios, color="#1565c0", lw=1.5, zorder=1)
    finite = [i for i, m in enumerate(steps) if not m.overflow]
    over = [i for i, m in enumerate(steps) if m.overflow]
    ax.scatter(finite, [ratios[i] for i in finite], color="#1565c0", s=18, zorder=2, label="finite: the ratio")
    if over:
        ax.scatter(over, [ratios[i] for i in over], color="#c62828", marker="^", s=40, zorder=2,
                   label="inf/NaN where float64 is finite (drawn at the top)")
    if first is not None:
        ax.scatter([first], [ratios[first]], s=160, facecolors="none", edgecolors="#c62828", linewidths=2, zorder=3)
        ax.annotate(f"starts here: {_plain(steps[first].title)}", (first, ratios[first]), xytext=(12, -14),
                    textcoords="offset points", color="#c62828", fontsize=8)
    ax.legend(loc="lower right", fontsize=7)
    ax.axhline(p.factor, color="grey", ls=":", lw=1)
    ax.text(-0.3, p.factor, f"{p.factor:g}x the spread {p.precision} rounding gives", fontsize=8, ha="left",
            va="bottom", color="grey")
    ax.set_yscale("log")
    ax.set_ylim(min(ratios + [p.factor]) / 3, top * 8)
    ax.set_xticks(range(len(steps)), [_plain(m.title) for m in steps], rotation=75, fontsize=7)
    ax.set_ylabel("|candidate - float64| /\nrounding's spread (max over cases)")
    ax.set_title(f"{_plain(p.pair)}: each torch module's output against float64, by depth (execution order)",
                 fontsize=9)
    return fig


def _modules(report: ParityReport) -> str:
    head = "<h2 id=modules>Where it starts: torch modules against float64</h2>"
    drawn = [p for p in report.precision if p.modules]
    if not drawn:
        classified = bool(report.precision)
        return head + ("<p class=muted>No pair is beyond its precision: nothing to trace module by module.</p>"
                       if classified else "<p class=muted>Not computed: no pair was set against float64 (failing "
                       "pairs are; parity --explain sets every pair).</p>")
    parts = []
    for p in drawn:
        rows = "".join(f"<tr><td class=l>{_e(m.title)}</td><td>{_e(m.deviation, '.2e')}</td>"
                       f"<td>{_e(m.spread, '.2e')}</td><td>{'overflow' if m.overflow else _e(m.ratio, '.3g')}</td></tr>"
                       for m in p.modules)
        parts.append(f"<h3>{_e(p.pair)}</h3><p>{_e(p.summary())}.</p>" + _png(module_figure(p))
                     + "<details><summary>the table</summary><table><tr><th class=l>torch module</th><th>max "
                     "deviation</th><th>spread</th><th>ratio</th></tr>" + rows + "</table></details>")
    return head + "".join(parts)


def op_figure(loc: Localization):
    """Each op's relative divergence in program order, against the localisation's own per-op limit."""
    import matplotlib.pyplot as plt

    ops = loc.ops
    fig, ax = plt.subplots(figsize=(11, 3.9))
    rel = [max(o.rel, 1e-9) for o in ops]
    colours = ["#c62828" if o.overflow else "#ff9800" if o.diverged else "#42a5f5" for o in ops]
    ax.bar(range(len(ops)), rel, color=colours)
    ax.set_yscale("log")
    ax.set_ylim(1e-5, 10)
    for i, o in enumerate(ops):
        if o.overflow:
            ax.text(i, max(o.rel, 1e-5) * 1.6, f"{o.overflow}\ninf/NaN", ha="center", fontsize=6.5, color="#c62828")
    ax.axhline(loc.rel_limit, color="grey", ls=":", lw=1)
    ax.text(len(ops) - 0.5, loc.rel_limit, f"per-op limit ({loc.rel_limit:.0%})", fontsize=8, ha="right",
            va="bottom")
    ax.set_xticks(range(len(ops)), [_plain(f"{o.op_type} · {o.module}" if o.module else o.op_type) for o in ops],
                  rotation=75, fontsize=7)
    ax.set_ylabel("max |diff| / max |ref|\n(finite values)")
    ax.set_title(f"{_plain(loc.candidate)} vs {_plain(loc.reference)} profile, op by op in program order, on "
                 f"{len(loc.cases)} cases "
                 "(red: inf/NaN where the reference is finite; orange: beyond the limit)", fontsize=9)
    return fig


def _op_chart(loc: Localization) -> str:
    diverged = [o for o in loc.ops if o.diverged]
    table = ""
    if diverged:
        table = ("<details><summary>" + _e(plural(len(diverged), "op")) + " past the limit</summary>"
                 "<table><tr><th class=l>MIL value</th><th class=l>op</th><th class=l>torch module</th>"
                 "<th>relative</th><th>overflow</th></tr>"
                 + "".join(f"<tr><td class=l>{_e(o.name)}</td><td class=l>{_e(o.op_type)}</td>"
                           f"<td class=l>{_e(o.module or '—')}</td><td>{_e(o.rel, '.2e')}</td>"
                           f"<td>{_e(o.overflow, ',')}</td></tr>"
                           for o in diverged) + "</table></details>")
    return _png(op_figure(loc)) + table


def _ops(report: ParityReport) -> str:
    head = "<h2 id=ops>Per-op divergence of the fp16 program</h2>"
    pairs = report.localizations.pairs
    overview = report.localizations.overview
    if not pairs and (overview is None or not overview.ops):
        return head + ("<p class=muted>Not computed: no fp16 CoreML program was localised for this report "
                       "(parity --html, or compare --ops, profiles it).</p>")
    parts = []
    for pair, loc in pairs.items():
        parts.append(f"<h3>{_e(pair)}</h3><p>Where this failing pair first diverges from the same program in the "
                     f"{_e(loc.reference)} profile, on its flipped and worst cases: {_e(loc.summary())}.</p>"
                     + _op_chart(loc))
    if not pairs and overview is not None:
        note = ("<p class=note>Informational: every pair passed its policy, so an orange bar or a first op past the "
                "per-op limit here changed no judged decision; it shows where fp16 rounding concentrates.</p>"
                if report.status == "PASSED" else
                "<p class=note>Informational: no failing coreml-emulated pair to localise; this profile is not a "
                "verdict.</p>")
        parts.append(note + f"<p>{_e(overview.candidate)} against the {_e(overview.reference)} profile on the first "
                     f"{_e(len(overview.cases))} cases: {_e(overview.summary())}.</p>" + _op_chart(overview))
    return head + "".join(parts)


def render(report: ParityReport) -> str:
    weights = (
        ""
        if report.trained
        else "<p class=note>These weights are untrained: their outputs sit close to the decision boundaries, so "
        "decision figures say little about a shipped model.</p>"
    )
    body = "".join([_summary(report), _errors(report), _decisions(report), _series(report), _modules(report),
                    _ops(report)])
    nav = " · ".join(f'<a href="#{s}">{s}</a>' for s in SECTIONS)
    status = report.status
    return (
        f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>Parity: {_e(report.model)}</title>"
        f"<style>{STYLE}</style></head><body><h1>Parity report: {_e(report.model)}</h1>"
        f"<p class=muted>{_e(report.inputs.count, ',')} cases, seed {_e(report.inputs.seed)}; weights: "
        f"{_e(report.weights_source)}; reference {_e(report.reference)}"
        + (f"; CoreML target {_e(report.target)}" if report.target else "") + ".</p>"
        f'<div class="banner {status.lower()}">{_e(report.headline)}</div>'
        f"{weights}<p>{nav}</p>{body}</body></html>\n"
    )


def write(report: ParityReport, path: str | Path) -> Path:
    return atomic.write_text(path, render(report))
