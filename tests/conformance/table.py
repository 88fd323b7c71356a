"""Run a conformance suite and write its per-op table (markdown): docs/mil-conformance.md.

    python -m tests.conformance.table --suite mil-ios15 --out docs/mil-conformance.md
    python -m tests.conformance.table --from-json run.json --out docs/mil-conformance.md

Rows are the op under test: the op named by Apple's test class (`TestReshape` -> reshape), or,
for a class that tests a family (`TestElementwiseBinary`), the one op in the case's program.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import shlex
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

from tests.conformance.conftest import KNOWN_FAILURES, KNOWN_MISMATCHES, explain, explain_failure
from tests.conformance.plugin import NOT_PREDICTED, PREDICTED

SCAFFOLDING = {"cast"}  # ops the converter adds around the op under test (fp16 casts, int inputs)


def snake(test_class: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", test_class.removeprefix("Test")).lower()


def op_of(case: dict, class_ops: set[str]) -> str:
    name = snake(case["test_class"])
    for op in sorted(class_ops, key=len, reverse=True):  # TestArgSort -> argsort, ...LayerNorm -> layer_norm
        if name.replace("_", "") == op.replace("_", "") or name.endswith("_" + op):
            return op
    own = set(case["ops"]) - SCAFFOLDING
    return own.pop() if len(own) == 1 else name


def totals(records: list[dict]) -> dict[str, int]:
    counts = Counter(r["outcome"] for r in records)
    out = {"collected": len(records), "reaching a prediction": sum(counts[o] for o in PREDICTED)}
    out.update({o: counts[o] for o in (*PREDICTED, *NOT_PREDICTED)})
    return out


def short(nodeid: str) -> str:
    """file::Class::test[params] without the path to coremltools and the constant parameters."""
    nodeid = nodeid.split("/tests/")[-1].split("/test/")[-1]
    nodeid = re.sub(r"compute_unit=ComputeUnit\.CPU_ONLY-", "", nodeid)
    nodeid = re.sub(r"BackendConfig\(backend='mlprogram', precision='(fp\d\d)', opset_version=<AvailableTarget\.(\w+): "
                    r"\d+>\)", r"\1/\2", nodeid)
    return nodeid


def _cell(text: str, limit: int = 300) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def render(records: list[dict], command: str, date: str, environment: str) -> str:
    class_ops: dict[str, set[str]] = defaultdict(set)
    for r in records:
        class_ops[r["test_class"]].update(set(r["ops"]) - SCAFFOLDING)
    rows: dict[str, Counter] = defaultdict(Counter)
    classes: dict[str, set[str]] = defaultdict(set)
    for r in records:
        op = op_of(r, class_ops[r["test_class"]])
        rows[op][r["outcome"] if r["outcome"] in PREDICTED else "not predicted"] += 1
        classes[op].add(r["test_class"])
    t = totals(records)
    lines = [
        "# MIL interpreter conformance: coremltools' own op tests",
        "",
        f"Date: {date}. Command: `{command}`. {environment}",
        "",
        "Apple's tests run unchanged; only the prediction step is ours: the converted `.mlpackage` runs "
        "through `harness.mil` under the `fp32` profile and is compared with the test's expected values "
        "and its atol/rtol (widened for fp16 programs exactly as Apple's `compare_backend` widens them). "
        "*unsupported*: the program uses an op the interpreter lacks; *mismatch*: a shape or value "
        "check failed; *error*: the interpreter (or our prediction step) raised; *failed after prediction*: "
        "the prediction matched, then one of the test's own later assertions failed; "
        "*not predicted*: cases that never ask for a prediction (type inference, value inference, "
        "Apple's own skips and xfails, conversion failures).",
        "",
        "Rerun: `tox -e conformance` (this table; one process, 35 min on a quiet 2-core machine, an hour "
        "under load); the default test suite runs "
        "a fixed sample (`tests/conformance/test_sampled.py`, `python -m tests.conformance.run --sample "
        "--json out.json`); torch frontend tests: `python -m tests.conformance.table --suite torch --out "
        "torch.md -- --conformance-precision fp32 --conformance-every 25`. Known mismatches and their "
        "explanations: `KNOWN_MISMATCHES` and `KNOWN_FAILURES` in tests/conformance/conftest.py.",
        "",
        "## Totals",
        "",
        "| " + " | ".join(t) + " |",
        "|" + "---|" * len(t),
        "| " + " | ".join(str(v) for v in t.values()) + " |",
        "",
        "By the precision the case converts at (fp16 programs are judged with Apple's widened tolerances; "
        "unparametrised cases have none):",
        "",
        "| precision | " + " | ".join(t) + " |",
        "|" + "---|" * (len(t) + 1),
    ]
    for precision in ("fp32", "fp16", None):
        sub = totals([r for r in records if r["precision"] == precision])
        lines.append(f"| {precision or 'none'} | " + " | ".join(str(v) for v in sub.values()) + " |")
    lines += [
        "",
        "## Per op",
        "",
        "| op type | passed | unsupported | mismatch | error | failed after prediction | not predicted | "
        "Apple test classes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for op in sorted(rows):
        c = rows[op]
        lines.append(f"| {op} | {c['passed']} | {c['unsupported']} | {c['mismatch']} | {c['error']} | "
                     f"{c['failed after prediction']} | {c['not predicted']} | {', '.join(sorted(classes[op]))} |")
    missing = Counter(op for r in records if r["outcome"] == "unsupported" for op in r["missing_ops"] or ["(inputs)"])
    lines += ["", "## Missing ops (cases each one blocks)", "", "| op type | cases |", "|---|---|"]
    lines += [f"| {op} | {n} |" for op, n in missing.most_common()]
    bad = [r for r in records if r["outcome"] in ("mismatch", "error", "failed after prediction")]
    lines += ["", "## Mismatches, errors and failures after the prediction", "",
              "Known mismatches and failures (tests/conformance/conftest.py `KNOWN_MISMATCHES`, `KNOWN_FAILURES`) "
              "give their explanation; "
              "others show the first words of the failure.", "",
              "| outcome | case | explanation or failure |", "|---|---|---|"]
    for r in bad:
        reason = (explain(r["nodeid"], r.get("max_abs")) if r["outcome"] == "mismatch"
                  else explain_failure(r["nodeid"], r["detail"]))
        lines.append(f"| {r['outcome']}{' (known)' if reason else ''} | {_cell(short(r['nodeid']), 400)} | "
                     f"{_cell(reason or r['detail'])} |")
    stale = [pattern for pattern in [*KNOWN_MISMATCHES, *KNOWN_FAILURES]
             if any(all(p in r["nodeid"] for p in pattern) for r in records)
             and not any(all(p in r["nodeid"] for p in pattern) for r in bad)]
    if stale:
        lines += ["", "Known-mismatch entries that matched cases in this run, none of which mismatched "
                  "(remove them):", ""] + [f"- `{' & '.join(p)}`" for p in stale]
    return "\n".join(lines) + "\n"


def environment() -> str:
    from importlib.metadata import version

    return (f"coremltools {version('coremltools')}, numpy {version('numpy')}, torch {version('torch')}, "
            f"Python {sys.version.split()[0]}.")


def main(argv: list[str] | None = None) -> int:
    from tests.conformance import suites
    from tests.conformance.run import run

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--suite", choices=sorted(suites.SUITES))
    which.add_argument("--sample", action="store_true")
    which.add_argument("--from-json", type=Path, help="render a run's records instead of running")
    p.add_argument("--json", type=Path, help="keep the run's records here")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--command", help="with --from-json: the command that produced the records, for the header")
    p.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = p.parse_args(argv)
    if args.from_json:
        records = json.loads(args.from_json.read_text())
    else:
        json_path = args.json or Path(tempfile.mkdtemp()) / "conformance.json"
        records = run(args.suite, args.sample, json_path, args.pytest_args)
    command = args.command or "python -m tests.conformance.table " + shlex.join(
        argv if argv is not None else sys.argv[1:])
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = render(records, command, date, environment())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(args.out.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(args.out)
    print(f"wrote {args.out}: " + ", ".join(f"{k} {v}" for k, v in totals(records).items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
