"""A self-contained HTML parity report: tables, and matplotlib figures embedded as PNG.

Sections: summary, histograms of absolute and ULP error per pair, decisions (with the
near-threshold cases listed), example watch series drawn as the app's chart with each
backend's split lines, and the per-op divergence of the fp16 program.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np

from harness import atomic
from harness.mil.localize import Localization
from harness.parity import ParityReport
from harness.report import verdict_text

SECTIONS = ("summary", "errors", "decisions", "series", "ops")
STYLE = """
body{font:15px/1.45 -apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;
color:#1d1d1f;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em} h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{padding:.3em .7em;border-bottom:1px solid #eee;text-align:right}
th{background:#f5f5f7;text-align:center} td.l,th.l{text-align:left} td{white-space:nowrap}
td.l{white-space:normal}
.pass{color:#1a7f37;font-weight:600} .fail{color:#c62828;font-weight:600} .muted{color:#6e6e73}
.banner{padding:.8em 1em;border-radius:8px;margin:1em 0;font-weight:600}
.banner.pass{background:#e8f5e9} .banner.fail{background:#ffebee}
.note{background:#fff8e1;padding:.6em 1em;border-radius:6px} img{max-width:100%}
.legend{font-size:.9em;color:#444}
"""


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="figure" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def _e(value) -> str:
    return html.escape(str(value))


def _verdict(ok: bool) -> str:
    return '<span class="pass">PASS</span>' if ok else '<span class="fail">FAIL</span>'


def _summary(report: ParityReport) -> str:
    rows = []
    for c in report.comparisons:
        rows.append(
            f"<tr><td class=l>{_e(c.pair)}</td><td>{_e(c.policy.name)}</td>"
            f"<td class={'pass' if c else 'fail'}>{_e(verdict_text(c))}</td>"
            f"<td>{c.max_abs:.2e}</td><td>{c.mean_abs:.2e}</td>"
            f"<td>{'—' if c.non_finite else f'{c.max_ulp:,}'}</td>"
            f"<td>{c.decisions_agreeing:,}/{c.decisions_compared:,}</td>"
            f"<td>{c.near_threshold:,} ({c.near_threshold_flips} flipped)</td>"
            f"<td>{c.non_finite:,}</td></tr>"
        )
    table = (
        (
            "<table><tr><th class=l>candidate vs reference</th><th>policy</th><th>verdict</th><th>max abs</th>"
            "<th>mean abs</th><th>max ULP</th><th>decisions agree</th><th>near threshold</th>"
            "<th>NaN/inf</th></tr>" + "".join(rows) + "</table>"
        )
        if rows
        else "<p class=fail>No comparison ran: the reference or every candidate was unavailable.</p>"
    )
    notes = [f"<li><b>{_e(p)}</b>: {_e(d['summary'])}</li>" for p, d in report.diagnoses.items()]
    skipped = [
        f"<li>{_e(r.label)}: {_e(r.status)}: {_e(r.reason)}</li>" for r in report.runs if r.status != "ran"
    ]
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
        + ("<p><b>Where it went wrong</b></p><ul>" + "".join(notes) + "</ul>" if notes else "")
        + ("<p class=muted>Not run here:</p><ul class=muted>" + "".join(skipped) + "</ul>" if skipped else "")
        + (
            "<h3>CoreML artifacts, checked without running them</h3><table><tr><th class=l>artifact</th>"
            "<th>verdict</th><th class=l>compute ops by dtype</th><th class=l>findings</th></tr>"
            + checks
            + "</table>"
            if checks
            else ""
        )
        + "<h3>Policies</h3><ul>"
        + "".join(
            f"<li><b>{_e(p.name)}</b>: atol {p.atol:g}, rtol {p.rtol:g} (scaled by max(1, max|input|)), "
            f"decision margin {p.decision_margin:g}. <span class=muted>{_e(p.reason)}</span></li>"
            for p in policies.values()
        )
        + "</ul>"
    )


def _errors(report: ParityReport) -> str:
    import matplotlib.pyplot as plt

    if not report.comparisons:
        return "<h2 id=errors>Error distributions</h2><p class=muted>No comparison ran.</p>"
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    for c in report.comparisons:
        err = c.abs_errors[np.isfinite(c.abs_errors)].ravel()
        err = np.maximum(err, 1e-12)
        ax1.hist(
            err, bins=np.geomspace(1e-12, max(1.0, err.max()), 60), histtype="step", lw=1.6, label=c.pair
        )
        ulp = np.maximum(c.ulp_errors.ravel(), 0.5)
        ax2.hist(
            ulp, bins=np.geomspace(0.5, max(2.0, ulp.max()) * 1.5, 60), histtype="step", lw=1.6, label=c.pair
        )
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
                ax.text(c.policy.atol, ax.get_ylim()[1], f" {c.policy.name} atol", fontsize=8, va="top")
    ax1.legend(fontsize=8, loc="upper left", bbox_to_anchor=(0, -0.18), ncol=2, frameon=False)
    nonfinite = "".join(
        f"<li>{_e(c.pair)}: {c.non_finite:,} outputs NaN or infinite, not drawn</li>"
        for c in report.comparisons
        if c.non_finite
    )
    return (
        "<h2 id=errors>Error distributions</h2><p>Every output of every case, per pair. Log scales: "
        "the tail on the right is what the policy judges.</p>"
        + _png(fig)
        + (f"<ul class=fail>{nonfinite}</ul>" if nonfinite else "")
    )


def _decisions(report: ParityReport) -> str:
    import matplotlib.pyplot as plt

    if not report.comparisons:
        return "<h2 id=decisions>Decisions</h2><p class=muted>No comparison ran.</p>"
    fig, ax = plt.subplots(figsize=(11, 0.5 + 0.45 * len(report.comparisons)))
    names = [c.pair for c in report.comparisons]
    agree = [c.decisions_agreeing for c in report.comparisons]
    flipped = [c.decisions_compared - c.decisions_agreeing for c in report.comparisons]
    near = [c.near_threshold for c in report.comparisons]
    y = np.arange(len(names))
    ax.barh(y, agree, color="#4caf50", label="agree")
    ax.barh(y, flipped, left=agree, color="#e53935", label="flipped (judged)")
    ax.barh(y, near, left=np.add(agree, flipped), color="#ffb300", label="near threshold (not judged)")
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("decisions an app reads (positions before each series' last point)")
    for yi, (a, f, n) in enumerate(zip(agree, flipped, near, strict=True)):
        ax.text(a + f + n, yi, f"  {f} flipped, {n} near", va="center", fontsize=8,
                color="#c62828" if f else "#444")
    ax.set_xlim(0, max(np.add(np.add(agree, flipped), near)) * 1.25)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=3, frameon=False)
    rows = []
    ref = report.outputs.get(report.reference)
    for c in report.comparisons:
        for kind, flips in (("flipped", c.flips), ("near threshold, flipped", c.near_flips)):
            for f in flips[:10]:
                rows.append(
                    f"<tr><td class=l>{_e(c.candidate)}</td><td class=l>{kind}</td><td>{f.case}</td>"
                    f"<td class=l>{_e(report.cases.kinds[f.case])}</td><td>{f.position}</td>"
                    f"<td>{f.reference:.5f}</td><td>{f.candidate:.5f}</td></tr>"
                )
    if ref is not None and not rows and report.cases.decision_mask is not None and ref.ndim == 2:
        mask = report.cases.decision_mask
        margin = max(c.policy.decision_margin for c in report.comparisons)
        close = np.argwhere(mask & (np.abs(ref - 0.5) <= margin))[:10]
        for k, i in close:
            rows.append(
                f"<tr><td class=l>all</td><td class=l>near threshold, agreed</td><td>{k}</td>"
                f"<td class=l>{_e(report.cases.kinds[k])}</td><td>{i}</td><td>{ref[k, i]:.5f}</td>"
                f"<td>—</td></tr>"
            )
    table = (
        "<table><tr><th class=l>candidate</th><th class=l>what</th><th>case</th><th class=l>kind</th>"
        "<th>position</th><th>reference p</th><th>candidate p</th></tr>" + "".join(rows) + "</table>"
        if rows
        else "<p class=muted>No decision was within the margin of the threshold.</p>"
    )
    return (
        "<h2 id=decisions>Decisions</h2><p>A decision is judged when the reference probability is "
        "further than the policy's margin from the 0.5 threshold; closer ones may legitimately flip "
        "on any device and are listed, not judged.</p>" + _png(fig) + table
    )


def _series(report: ParityReport, count: int = 6) -> str:
    import matplotlib.pyplot as plt

    labels = [report.reference] + [c.candidate for c in report.comparisons]
    outs = {lab: report.outputs[lab] for lab in labels if lab in report.outputs}
    if report.reference not in outs:
        return "<h2 id=series>Example series</h2><p class=muted>The reference did not run.</p>"
    drawable = report.cases.raw and all(np.ndim(r) == 2 and np.shape(r)[1] == 2 for r in report.cases.raw)
    if not drawable or report.cases.decision_mask is None:
        return ("<h2 id=series>Example series</h2><p class=muted>This model's inputs are not (x, y) "
                "series, so there is no chart to draw.</p>")
    mask = report.cases.decision_mask
    ref = outs[report.reference]
    decisions = {lab: (o > 0.5) & mask for lab, o in outs.items()}
    base = decisions[report.reference]
    margin = {c.candidate: c.policy.decision_margin for c in report.comparisons}
    judged = {
        lab: (decisions[lab] != base) & (np.abs(ref - 0.5) > margin[lab])
        for lab in decisions
        if lab != report.reference
    }
    n = len(report.cases)
    confident = [k for k in range(n) if any(j[k].any() for j in judged.values())]
    any_flip = [
        k for k in range(n) if k not in confident and any((d[k] != base[k]).any() for d in decisions.values())
    ]
    realistic = [
        k
        for k in range(n)
        if report.cases.kinds[k] == "realistic" and k not in confident and k not in any_flip
    ]
    chosen = (confident[: count // 2] + any_flip[:1] + realistic)[:count]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    candidates = [lab for lab in decisions if lab != report.reference]
    rows = -(-len(chosen) // 2)
    fig, axes = plt.subplots(rows, 2, figsize=(11, 3.1 * rows), squeeze=False)
    for ax, k in zip(axes.ravel(), chosen, strict=False):
        pts = report.cases.raw[k]
        x, y = pts[:, 0] - pts[0, 0], pts[:, 1]
        ax.plot(x, y, "-o", color="#333", ms=3, lw=1, zorder=3)
        mid = (x + np.append(x[1:], x[-1])) / 2  # between a split's point and the next
        for i in np.flatnonzero(base[k]):
            ax.axvline(mid[i], color="#9e9e9e", lw=2.5, alpha=0.6, zorder=1)
        lo, hi = ax.get_ylim()
        who = []
        for j, lab in enumerate(candidates):
            extra = np.flatnonzero(decisions[lab][k] & ~base[k])
            missed = np.flatnonzero(~decisions[lab][k] & base[k])
            colour = colors[j % len(colors)]
            ax.scatter(mid[extra], [hi] * len(extra), marker="v", s=60, color=colour, zorder=4, clip_on=False)
            ax.scatter(
                mid[missed], [lo] * len(missed), marker="^", s=60, color=colour, zorder=4, clip_on=False
            )
            if len(extra) or len(missed):
                who.append(lab)
        ax.set_ylim(lo, hi)
        bad = k in confident
        title = f"case {k} ({report.cases.kinds[k]})"
        if who:
            title += ": differs on " + ", ".join(who)
        ax.set_title(title, fontsize=8.5, color="#c62828" if bad else "#1d1d1f")
        if bad:
            for spine in ax.spines.values():
                spine.set_color("#c62828")
                spine.set_linewidth(2)
        ax.set_xlabel("days since first reading", fontsize=8)
        ax.set_ylabel("offset (s)", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(chosen) :]:
        ax.axis("off")
    fig.tight_layout()
    legend = " ".join(
        f'<span style="color:{colors[j % len(colors)]}">■ {_e(lab)}</span>'
        for j, lab in enumerate(candidates)
    )
    return (
        "<h2 id=series>Example series</h2><p>Watch logs drawn as the app charts them. Grey bands: the "
        f"reference's splits ({_e(report.reference)}). A candidate's extra split is a ▼ at the top, a "
        "missed one a ▲ at the bottom, in the candidate's colour. Series with a confident decision "
        f"reversed come first, framed in red: {len(confident)} of {n} cases; another {len(any_flip)} "
        f"differ only near the threshold.</p><p class=legend>{legend}</p>" + _png(fig)
    )


def _ops(localization: Localization | None) -> str:
    import matplotlib.pyplot as plt

    head = "<h2 id=ops>Per-op divergence of the fp16 program</h2>"
    if localization is None or not localization.ops:
        return head + "<p class=muted>Not computed (no fp16 CoreML artifact in this run).</p>"
    ops = localization.ops
    fig, ax = plt.subplots(figsize=(11, 3.6))
    rel = [max(o.rel, 1e-9) for o in ops]
    first = localization.first
    colours = ["#c62828" if o.overflow else "#ff9800" if o.diverged else "#42a5f5" for o in ops]
    ax.bar(range(len(ops)), rel, color=colours)
    ax.set_yscale("log")
    ax.set_ylim(1e-5, 10)
    for i, o in enumerate(ops):
        if o.overflow:
            ax.text(
                i,
                max(o.rel, 1e-5) * 1.6,
                f"{o.overflow}\ninf/NaN",
                ha="center",
                fontsize=6.5,
                color="#c62828",
            )
    ax.axhline(0.01, color="grey", ls=":", lw=1)
    ax.text(len(ops) - 0.5, 0.01, "per-op limit (1%)", fontsize=8, ha="right", va="bottom")
    ax.set_xticks(range(len(ops)), [f"{o.op_type}" for o in ops], rotation=75, fontsize=7)
    ax.set_ylabel("max |diff| / max |ref|\n(finite values)")
    ax.set_title(
        f"{localization.candidate} vs {localization.reference}, op by op in program order "
        "(red: has inf/NaN where the reference is finite; orange: beyond the limit)",
        fontsize=9,
    )
    text = (
        f"First divergent op: <b>{_e(first.name)}</b> ({_e(first.op_type)}), "
        + (f"{first.overflow} values overflow float16." if first.overflow else f"relative {first.rel:.2e}.")
        if first
        else "No op diverges beyond the per-op limit: differences are rounding, spread thin."
    )
    return head + f"<p>{text}</p>" + _png(fig)


def render(report: ParityReport, localization: Localization | None = None) -> str:
    verdict = bool(report)
    weights = (
        ""
        if report.trained
        else "<p class=note>These weights are untrained: probabilities sit near 0.5, so decision figures "
        "say little about a shipped model.</p>"
    )
    body = "".join(
        [_summary(report), _errors(report), _decisions(report), _series(report), _ops(localization)]
    )
    nav = " · ".join(f'<a href="#{s}">{s}</a>' for s in SECTIONS)
    return (
        f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>Parity: {_e(report.model)}</title>"
        f"<style>{STYLE}</style></head><body><h1>Parity report: {_e(report.model)}</h1>"
        f"<p class=muted>{len(report.cases):,} cases, seed {report.cases.seed}; weights: "
        f"{_e(report.weights_source)}; reference {_e(report.reference)}.</p>"
        f'<div class="banner {"pass" if verdict else "fail"}">'
        f"{'PASSED: every pair within its policy' if verdict else 'FAILED: see the summary'}</div>"
        f"{weights}<p>{nav}</p>{body}</body></html>\n"
    )


def localization_for(report: ParityReport, spec, folder: Path, cases: int = 32) -> Localization | None:
    """Per-op divergence of the fp16 CoreML program (fp16-storage vs fp32 profile) on the first cases."""
    from harness.export.manifest import Manifest
    from harness.mil import load_program
    from harness.mil.localize import localize

    manifest = Manifest.read(folder)
    try:
        artifact = manifest.artifact("coreml", "fp16")
    except Exception:
        return None
    program = load_program(Path(folder) / artifact.path)
    return localize(program, report.cases.take(slice(0, cases)), "fp32", "fp16-storage")


def write(report: ParityReport, path: str | Path, spec=None, folder: Path | None = None) -> Path:
    loc = localization_for(report, spec, folder) if spec is not None and folder is not None else None
    return atomic.write_text(path, render(report, loc))
