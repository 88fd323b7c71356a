"""Run a conformance suite (or the fixed sample) with pytest and the plugin; outcomes go to a JSON file.

    python -m tests.conformance.run --suite mil-ios15 --json out.json [-- extra pytest args]
    python -m tests.conformance.run --sample --json out.json
    python -m tests.conformance.run --shard iOS18/test_states.py::TestReadState --json out.json   (a cluster task's)

Run it in a fresh process: Apple's test modules read the environment, reseed numpy and
patch nothing back when imported, so they stay out of the main test session.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tests.conformance import suites


def pytest_args(suite: str | None, sample: bool, json_path: Path, extra: list[str] = (),
                shard: str | None = None) -> list[str]:
    """The pytest command line: Apple's files in place, our plugin, none of the project's addopts. The rootdir
    is the folder holding coremltools, so case ids start at `coremltools/` wherever the package is installed."""
    if shard:
        chosen = [suites.shard_target(shard)]
    elif sample:
        chosen = suites.sample_targets() + ["-k", suites.SAMPLE_KEYWORD,
                                            "--conformance-precision", suites.SAMPLE_PRECISION,
                                            "--conformance-every", str(suites.SAMPLE_EVERY),
                                            "--conformance-per-class", str(suites.SAMPLE_PER_CLASS)]
    else:
        chosen = suites.targets(suite)
    return [*chosen, "-p", "tests.conformance.plugin", "-p", "no:cacheprovider", "-p", "no:trendsplit_harness",
            "-o", "addopts=", "-o", "xfail_strict=false",
            "--rootdir", str(suites.coremltools_root().parent), "-W", "ignore", "-q", "--no-header", "-rN",
            "--conformance-json", str(json_path), *extra]


def run(suite: str | None, sample: bool, json_path: Path, extra: list[str] = (),
        shard: str | None = None) -> list[dict]:
    """Run in this process (which must not have imported Apple's test modules) and return the records."""
    import pytest

    code = pytest.main(pytest_args(suite, sample, json_path, list(extra), shard))
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) or not json_path.exists():
        raise SystemExit(f"conformance run did not complete (pytest exit code {int(code)})")
    return json.loads(json_path.read_text())


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--suite", choices=sorted(suites.SUITES))
    which.add_argument("--sample", action="store_true", help="the default suite's fixed sample")
    which.add_argument("--shard", metavar="FILE[::CLASS]",
                       help="one test file or class, relative to the installed coremltools package (or absolute)")
    p.add_argument("--json", type=Path, required=True, help="where to write one record per case")
    p.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --), e.g. -k TestConv")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    run(args.suite, args.sample, args.json, args.pytest_args, args.shard)
    return 0


if __name__ == "__main__":
    sys.exit(main())
