"""Plain-text rendering of a parity report: the table the CLI prints."""

from __future__ import annotations

from harness.parity import ParityReport


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def verdict_text(c) -> str:
    if c:
        return "PASS" if c.numeric_ok else "PASS (decisions; numbers reported)"
    reasons = [w for w, bad in (("non-finite", c.non_finite > 0),
                                ("numeric", c.policy.judge_numeric and not c.numeric_ok),
                                ("decisions", not c.decisions_ok)) if bad]
    return "FAIL " + " ".join(reasons)


def format_report(report: ParityReport) -> str:
    lines = [f"model {report.model}: {len(report.cases)} cases (seed {report.cases.seed}); "
             f"weights: {report.weights_source}"]
    if not report.trained:
        lines.append("  note: untrained weights; probabilities sit near 0.5, so decision "
                     "figures say little until trained weights exist")
    lines.append("")
    rows = []
    for c in report.comparisons:
        rows.append([
            c.pair, c.policy.name, f"{c.max_abs:.2e}", f"{c.mean_abs:.2e}", f"{c.max_rel:.2e}",
            str(c.max_ulp), f"{c.decisions_agreeing}/{c.decisions_compared}",
            f"{c.near_threshold} ({c.near_threshold_flips} flipped)",
            verdict_text(c),
        ])
    if rows:
        lines += _table(["pair", "policy", "max abs", "mean abs", "max rel", "max ULP",
                         "decisions agree", "near threshold", "verdict"], rows)
    else:
        lines.append("no comparison ran (the reference or every candidate was unavailable)")
    for c in report.comparisons:
        if c.non_finite:
            lines.append(f"{c.pair}: {c.non_finite} outputs are NaN or infinite where {c.reference} is "
                         f"finite (worst at case {c.worst[0]}, position {c.worst[-1]})")
        flipped = c.decisions_compared - c.decisions_agreeing
        if flipped:
            where = ", ".join(f"case {f.case} ({report.cases.kinds[f.case]}) position {f.position}: "
                              f"{f.reference:.3f} -> {f.candidate:.3f}" for f in c.flips[:3])
            lines.append(f"{c.pair}: {flipped} decisions flipped outside the {c.policy.decision_margin:g} "
                         f"margin ({'within' if c.decisions_ok else 'beyond'} the policy's "
                         f"{1 - c.policy.min_decision_agreement:.2%}): {where}")
    for pair, d in report.diagnoses.items():
        lines.append(f"{pair}: {d['summary']}")
    skipped = [r for r in report.runs if r.status != "ran"]
    if skipped:
        lines.append("")
        lines += [f"{r.label}: {r.status}: {r.reason}" for r in skipped]
    if report.artifact_checks:
        lines.append("")
        for check in report.artifact_checks:
            verdict = "PASS" if check else "FAIL"
            dtypes = ", ".join(f"{k} x{v}" for k, v in check.compute_dtypes.items())
            lines.append(f"artifact {check.artifact}: {verdict} "
                         f"({len(check.findings)} rules; compute ops {dtypes})")
            lines += [f"  {f.rule}: {f.detail}" for f in check.failures]
    lines += ["", "PASSED" if report else "FAILED"]
    return "\n".join(lines)
