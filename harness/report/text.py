"""Plain-text rendering of a parity report: the table the CLI prints, from the report's saved figures."""

from __future__ import annotations

import numpy as np

from harness.parity.verdict import ParityReport
from harness.text import printable


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def verdict_text(c) -> str:
    """One label per outcome, whatever the policy; the "judged" column says what it rests on."""
    if c.verdict == "pass":
        return "PASS"
    if c.verdict == "inconclusive":
        return "INCONCLUSIVE"
    return "FAIL " + " ".join(c.failures)


def side(value: float, threshold: float) -> str:
    """`value` with enough digits to show which side of `threshold` it is on."""
    for digits in range(3, 10):
        text = f"{value:.{digits}f}"
        if float(text) != threshold and (float(text) > threshold) == (value > threshold):
            return text
    return repr(value)


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _devices(report: ParityReport) -> list[str]:
    """Each device's numbers against every other run: how close the emulation comes, per device."""
    lines = []
    for d in report.devices:
        lines += ["", f"{d.device}" + (f" ({d.where})" if d.where else "") + ": "
                  + (f"closest emulation profile {d.closest}" if d.closest else "no emulated run to compare with")]
        rows = [[x.backend, x.policy, f"{x.mean_abs:.2e}", f"{x.max_abs:.2e}",
                 f"{x.decisions_agreeing}/{x.decisions_compared}", x.verdict.upper(),
                 "<- closest" if x.backend == d.closest else ""] for x in d.distances]
        lines += ["  " + line for line in _table(["against", "policy", "mean abs", "max abs", "decisions agree",
                                                   "verdict", ""], rows)]
    return lines


def format_report(report: ParityReport) -> str:
    target = f"; CoreML target {report.target}" if report.target else ""
    lines = [f"model {report.model}: {report.inputs.count:,} cases (seed {report.inputs.seed}); "
             f"weights: {report.weights_source}{target}"]
    if not report.trained:
        lines.append("  note: untrained weights; probabilities sit near 0.5, so decision "
                     "figures say little until trained weights exist")
    if report.steps:
        lines.append(f"  stateful: each case is a sequence of {report.steps} calls from the model's initial state, "
                     "every call judged on its own; Core ML keeps states in float16, so its pairs are judged by the "
                     "fp16 policy")
    lines.append("")
    rows = []
    for c in report.comparisons:
        decided = c.decision != "none"
        rows.append([
            c.pair, c.policy.name, c.judged, f"{c.max_abs:.2e}", f"{c.mean_abs:.2e}", f"{c.max_rel:.2e}",
            "—" if np.isnan(c.max_abs) else str(c.max_ulp),
            f"{c.decisions_agreeing}/{c.decisions_compared}" if decided else "— (no rule)",
            f"{c.near_threshold} ({c.near_threshold_flips} flipped)" if decided else "—",
            verdict_text(c),
        ])
    if rows:
        lines += _table(["pair", "policy", "judged", "max abs", "mean abs", "max rel", "max ULP",
                         "decisions agree", "near threshold", "verdict"], rows)
    else:
        lines.append("no comparison ran (the reference or every candidate was unavailable)")
    for c in report.comparisons:
        if c.reference_non_finite:
            lines.append(f"{c.pair}: the reference {c.reference} gave {plural(c.reference_non_finite, 'output')} "
                         "that are NaN or infinite: nothing is judged against them, so the pair fails (fix the model "
                         "or its inputs first)")
        if c.non_finite:
            lines.append(f"{c.pair}: {plural(c.non_finite, 'candidate output')} NaN or infinite "
                         f"(worst at case {c.worst[0]}, position {c.worst[-1]})")
        flipped = c.decisions_compared - c.decisions_agreeing
        if flipped:
            def show(v: float, rule: str = c.decision) -> str:
                return side(v, report.threshold) if rule == "threshold" else f"class {v:g}"

            where = ", ".join(f"case {f.case} ({report.kinds.get(f.case, '?')}) position {f.position}: "
                              f"{show(f.reference)} -> {show(f.candidate)}" for f in c.flips[:3])
            more = f" and {flipped - 3:,} more" if flipped > 3 else ""
            lines.append(f"{c.pair}: {plural(flipped, 'decision')} flipped outside the "
                         f"{c.policy.decision_margin:g} margin ({'within' if c.decisions_ok else 'beyond'} the "
                         f"policy's {1 - c.policy.min_decision_agreement:.2%}): {where}{more}")
        if c.inconclusive:
            lines.append(f"{c.pair}: inconclusive: {c.inconclusive}")
        if "numeric" in c.failures:
            listed = ", ".join(map(str, c.violation_cases[:5]))
            more = f" and {c.violating_cases - 5:,} more" if c.violating_cases > 5 else ""
            scaled = ", scaled by each case's magnitude," if c.policy.input_scaled else ""
            lines.append(f"{c.pair}: {plural(c.numeric_violations, 'value')} in {plural(c.violating_cases, 'case')} "
                         f"beyond the allowance (atol {c.policy.atol:g}{scaled} + rtol {c.policy.rtol:g} x "
                         f"|reference|): {'case' if c.violating_cases == 1 else 'cases'} {listed}{more}; "
                         f"the largest difference at case "
                         f"{c.worst[0]}, position {c.worst[-1]}: {c.worst_reference:.6g} -> {c.worst_candidate:.6g}")
        if c.judges_numbers and c.max_input_scale > 1:
            lines.append(f"{c.pair}: allowance up to {c.max_allowance:.2e} (the {c.policy.name} policy's atol "
                         f"{c.policy.atol:g} scaled up to {c.max_input_scale:.3g}x by a case's magnitude)")
    first = report.first_failing_calls
    for pair, calls in report.by_call.items():
        drift = " ".join(f"{c.max_abs:.1e}" for c in calls)
        fails = f"; first fails at call {first[pair]}" if pair in first else ""
        lines.append(f"{pair}: max abs by call {drift}{fails}")
    for pair, d in report.diagnoses.items():
        lines.append(f"{pair}: {d['summary']}")
    if report.precision:
        lines += ["", "precision or bug (against float64; a statistical expectation, not a device measurement):"]
        lines += [f"  {p.pair}: {p.summary()}" for p in report.precision]  # the pair's name holds its output
    lines += _devices(report)
    skipped = [r for r in report.runs if r.status != "ran"]
    if skipped:
        lines.append("")
        lines += [f"{r.label}" + (f" on {r.where}" if r.where else "") + f": {r.status}: {r.reason}" for r in skipped]
    if report.artifact_checks:
        lines.append("")
        for check in report.artifact_checks:
            verdict = "PASS" if check else "FAIL"
            dtypes = ", ".join(f"{k} x{v}" for k, v in check.compute_dtypes.items())
            target = f"{check.target}; " if check.target else ""
            lines.append(f"artifact {check.artifact}: {verdict} "
                         f"({target}{len(check.findings)} rules; compute ops {dtypes})")
            lines += [f"  {f.rule}: {f.detail}" for f in check.failures]
    return "\n".join([*(_not_a_verdict(printable(line)) for line in lines), "", printable(report.headline)])


#: How the verdict line begins; no other line may (the report's last line is the verdict).
VERDICTS = ("PASSED", "FAILED", "INCONCLUSIVE")


def _not_a_verdict(line: str) -> str:
    """`line`, indented when a string from a file at its start (a backend label of a saved comparison,
    `PASSED: 4 of 4 pairs judged`) would make it read as a verdict."""
    return "  " + line if line.lstrip().startswith(VERDICTS) else line
