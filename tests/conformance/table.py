"""Run a conformance suite and write its per-op tables (markdown) into its section of docs/mil-conformance.md.

    python -m tests.conformance.table --suite mil-ios17 --out docs/mil-conformance.md
    python -m tests.conformance.table --suite mil-ios18 --cluster local:2 --out docs/mil-conformance.md
    python -m tests.conformance.table --suite mil-ios16 --from-json run.json --out docs/mil-conformance.md

The page holds a section per suite (iOS15 to iOS18, and any other run written there); writing one
suite's section replaces that section only and keeps the others and the hand-written text after them.
`--cluster` (or HARNESS_CLUSTER) runs the suite a test class per task on a Dask cluster
(`sharded.py`); the records, and so the tables, are the one-process run's.

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

#: Section titles by suite, in page order.
TITLES = {"mil-ios15": "iOS15", "mil-ios16": "iOS16", "mil-ios17": "iOS17", "mil-ios18": "iOS18",
          "torch": "torch frontend", "sample": "the default run's sample"}
ALLOWANCE = "of the passed: at fp16 storage's allowance"
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


def at_allowance(r: dict) -> bool:
    """A case that passed only at fp16 storage's allowance (an fp32-precision program holding float16 values)."""
    return r["outcome"] == "passed" and bool(r.get("fp16_storage"))


def totals(records: list[dict]) -> dict[str, int]:
    counts = Counter(r["outcome"] for r in records)
    out = {"collected": len(records), "reaching a prediction": sum(counts[o] for o in PREDICTED)}
    out.update({o: counts[o] for o in (*PREDICTED, *NOT_PREDICTED)})
    out[ALLOWANCE] = sum(at_allowance(r) for r in records)
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


INTRO = [
    "# MIL interpreter conformance: coremltools' own op tests",
    "",
    "Apple's tests run unchanged; only the prediction step is ours: the converted `.mlpackage` runs "
    "through `harness.mil` under the `fp32` profile and is compared with the test's expected values "
    "and its atol/rtol (widened for fp16 programs exactly as Apple's `compare_backend` widens them). "
    "One rule is ours: a case converted at fp32 precision whose program holds float16 values (the test "
    "declared fp16 inputs, weights or outputs) computes from fp16-rounded values that Apple's fp32 atol/rtol "
    "and most of its expected values leave out; when it misses Apple's fp32 tolerance it is judged again at "
    "fp16 storage's allowance, 2^-7 absolute and relative (64x tighter than Apple's fp16 atol, 6x its rtol), "
    "and counted apart (*at fp16 storage's allowance*), so each section gives the share at Apple's "
    "tolerances alone as well. "
    "Each target's folder of tests (`converters/mil/mil/ops/tests/iOS16`, ...) runs at the target its "
    "tests name (a few of the later folders' cases pin iOS15), and each program runs with the interpreter's "
    "registry for the target it was converted at. A stateful program's state is the interpreter's "
    "(`MLModel.make_state()`, zero-filled, kept across the test's predictions). "
    "*unsupported*: the program uses an op the interpreter lacks; *mismatch*: a shape or value "
    "check failed; *error*: the interpreter (or our prediction step) raised; *failed after prediction*: "
    "the prediction matched, then one of the test's own later assertions failed; "
    "*not predicted*: cases that never ask for a prediction (type inference, value inference, "
    "Apple's own skips and xfails, conversion failures).",
    "",
    "Rerun: `tox -e conformance` (iOS15; one process, 35 min on a quiet 2-core machine, an hour "
    "under load), `tox -e conformance -- --suite mil-ios17 --out docs/mil-conformance.md` (a later target: "
    "its section of this page is replaced, the others kept), `... --cluster local:2` or `--cluster "
    "tcp://HOST:8786` (a test class per task on a Dask cluster, [past one machine](cluster.md)); the default "
    "test suite runs fixed samples (`tests/conformance/test_sampled.py`, `python -m tests.conformance.run "
    "--sample --json out.json`); torch frontend tests: `python -m tests.conformance.table --suite torch --out "
    "torch.md -- --conformance-precision fp32 --conformance-every 25`. Known mismatches and their "
    "explanations: `KNOWN_MISMATCHES` and `KNOWN_FAILURES` in tests/conformance/conftest.py.",
    "",
]


def begin(suite: str) -> str:
    return f"<!-- conformance:{suite} -->"


def end(suite: str) -> str:
    return f"<!-- /conformance:{suite} -->"


def render(records: list[dict], command: str, date: str, environment: str, suite: str = "mil-ios15") -> str:
    """The suite's section: totals, per precision, per op, missing ops, every mismatch with its explanation."""
    class_ops: dict[str, set[str]] = defaultdict(set)
    for r in records:
        class_ops[r["test_class"]].update(set(r["ops"]) - SCAFFOLDING)
    rows: dict[str, Counter] = defaultdict(Counter)
    classes: dict[str, set[str]] = defaultdict(set)
    for r in records:
        op = op_of(r, class_ops[r["test_class"]])
        rows[op][r["outcome"] if r["outcome"] in PREDICTED else "not predicted"] += 1
        rows[op]["allowance"] += at_allowance(r)
        classes[op].add(r["test_class"])
    t = totals(records)
    reached, passed = t["reaching a prediction"], t["passed"]
    share = f"{100 * passed / reached:.1f}%" if reached else "none"
    strict = passed - t[ALLOWANCE]
    strict_share = f"{100 * strict / reached:.1f}%" if reached else "none"
    lines = [
        begin(suite),
        f"## {TITLES.get(suite, suite)}",
        "",
        f"Suite `{suite}`. Date: {date}. Command: {command if '`' in command else f'`{command}`'}. {environment}",
        "",
        f"**{passed} of the {reached} cases that reach a prediction pass ({share}).** "
        f"{t[ALLOWANCE]} of them at fp16 storage's allowance; at Apple's tolerances alone {strict} pass "
        f"({strict_share}).",
        "",
        "### Totals",
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
        "### Per op",
        "",
        "| op type | passed | of which at fp16 storage's allowance | unsupported | mismatch | error | "
        "failed after prediction | not predicted | Apple test classes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for op in sorted(rows):
        c = rows[op]
        lines.append(f"| {op} | {c['passed']} | {c['allowance']} | {c['unsupported']} | {c['mismatch']} | "
                     f"{c['error']} | "
                     f"{c['failed after prediction']} | {c['not predicted']} | {', '.join(sorted(classes[op]))} |")
    missing = Counter(op for r in records if r["outcome"] == "unsupported" for op in r["missing_ops"] or ["(inputs)"])
    lines += ["", "### Missing ops (cases each one blocks)", "", "| op type | cases |", "|---|---|"]
    lines += [f"| {op} | {n} |" for op, n in missing.most_common()]
    bad = sorted((r for r in records if r["outcome"] in ("mismatch", "error", "failed after prediction")),
                 key=lambda r: r["nodeid"])
    lines += ["", "### Mismatches, errors and failures after the prediction", "",
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
                  "(not needed for this run: remove them unless another suite needs them):", ""]
        lines += [f"- `{' & '.join(p)}`" for p in stale]
    return "\n".join([*lines, end(suite)]) + "\n"


def place(page: str | None, suite: str, section: str) -> str:
    """The page with `section` as suite's section: the intro, every suite's section in `TITLES` order (those the
    page has, this one replaced or added), then whatever the page holds after its sections."""
    sections: dict[str, str] = {}
    tail = ""
    if page:
        rest = page
        while (found := re.search(r"<!-- conformance:([\w-]+) -->", rest)) is not None:
            name = found[1]
            stop = rest.find(end(name), found.start())
            if stop < 0:
                raise ValueError(f"the page's section {name} has no end marker {end(name)!r}")
            sections[name] = rest[found.start():stop + len(end(name))] + "\n"
            rest = rest[stop + len(end(name)):]
        tail = rest.strip("\n")
    sections[suite] = section
    order = sorted(sections, key=lambda k: (list(TITLES).index(k) if k in TITLES else len(TITLES), k))
    parts = ["\n".join(INTRO), *("\n" + sections[k] for k in order)]
    if tail:
        parts.append("\n" + tail + "\n")
    return "".join(parts)


def environment() -> str:
    from importlib.metadata import version

    return (f"coremltools {version('coremltools')}, numpy {version('numpy')}, torch {version('torch')}, "
            f"Python {sys.version.split()[0]}.")


def main(argv: list[str] | None = None) -> int:
    """Every error one line on stderr: exit 2 for usage, 1 for a run that failed."""
    from harness.errors import HarnessError, UsageError

    try:
        return _main(argv)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except HarnessError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


def _main(argv: list[str] | None) -> int:
    from harness import atomic, options
    from harness.cli import usage_type
    from harness.errors import UsageError
    from tests.conformance import suites
    from tests.conformance.run import run

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--suite", choices=sorted(suites.SUITES))
    which.add_argument("--sample", action="store_true")
    p.add_argument("--from-json", type=Path, help="render a run's records instead of running (with --suite: its "
                   "section)")
    p.add_argument("--json", type=Path, help="keep the run's records here")
    p.add_argument("--out", type=Path, required=True, help="the page; the suite's section in it is replaced")
    p.add_argument("--command", help="with --from-json: the command that produced the records, for the header")
    p.add_argument("--cluster", type=usage_type(options.cluster_flag), metavar="local[:W]|tcp://HOST:PORT|none",
                   help="run a test class per task on a Dask cluster; none: one process (default: HARNESS_CLUSTER, "
                        "else one process)")
    p.add_argument("--shard-limit", type=float, metavar="SECONDS", default=None,
                   help="with a cluster: seconds a test class may run before the run ends (default 3600)")
    p.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = p.parse_args(argv)
    suite = args.suite or "sample"
    if args.from_json:
        records = json.loads(args.from_json.read_text())
    else:
        cluster = options.cluster(args.cluster) if args.cluster else None if args.sample else options.cluster(None)
        if cluster is not None:
            if args.sample:
                raise UsageError("--cluster runs a suite (--suite), not the sample")
            from tests.conformance import sharded

            records = sharded.run(args.suite, cluster, args.pytest_args, say=lambda m: print(m, flush=True),
                                  limit=args.shard_limit or sharded.SHARD_LIMIT_SECONDS)
        else:
            records = run(args.suite, args.sample, Path(tempfile.mkdtemp()) / "conformance.json", args.pytest_args)
        if args.json:
            atomic.write_text(args.json, json.dumps(records, indent=1))
    command = args.command or "python -m tests.conformance.table " + shlex.join(
        argv if argv is not None else sys.argv[1:])
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = render(records, command, date, environment(), suite)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(args.out, place(args.out.read_text() if args.out.exists() else None, suite, section))
    print(f"wrote {args.out} ({suite}): " + ", ".join(f"{k} {v}" for k, v in totals(records).items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
