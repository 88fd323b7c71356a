"""`python -m trendsplit`: the kit's commands (fixtures, the Swift differential, evaluation, thresholds, benchmarks).

Same conventions as `python -m harness`: exit 0 pass, 1 a failed check, 2 a usage error; every
error one line on stderr.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.toolkit import (
    CASES,
    SEED,
    UsageError,
    __version__,
    atomic,
    common_options,
    export_source,
    int_in,
    invoked_as,
    model_argument,
    model_name,
    output_file,
    output_folder,
    path_argument,
    run,
    seconds,
    subcommands,
)

#: The kit's trained nets, as the commands that take one name them (known without importing torch).
#: The nets trained from examples (`trendsplit.train`), and every net the kit serves (v4 learns no weights).
TRAINED_NETS = ["trendsplit", "trendsplit-gru", "trendsplit-v2", "trendsplit-v3", "trendsplit-v3b"]
NETS = [*TRAINED_NETS, "trendsplit-v4"]


def cmd_fixtures(args: argparse.Namespace) -> int:
    if args.action == "regenerate" and args.dir:
        atomic.check_folder(args.dir)  # before the imports and the generating
    if args.action == "check" and args.dir and not args.dir.is_dir():  # else: every fixture "missing", exit 1
        raise UsageError(f"--dir {args.dir} is not a folder: name the folder that holds the fixtures")
    from trendsplit import fixtures

    folder = Path(args.dir or fixtures.FIXTURES)
    if args.action == "regenerate":
        for path in fixtures.regenerate(folder, progress=args.progress):  # which checks its default folder too
            print(path)
        return 0
    drift = fixtures.check(folder, progress=args.progress)
    print(drift.render())
    return 0 if drift else 1


def cmd_swift_fuzz(args: argparse.Namespace) -> int:
    from trendsplit import differential, swift_encoder

    if args.hypothesis and args.cases is not None:
        raise UsageError("--cases counts seeded volume cases; with --hypothesis give --examples and --seconds")
    if not args.hypothesis and (args.examples is not None or args.seconds is not None or args.max_series is not None):
        raise UsageError("--examples, --seconds and --max-series apply to --hypothesis runs only")
    timeout = swift_encoder.build_timeout(args.build_timeout)
    args.progress(f"building the Swift encoder (swift build -c release, at most {timeout:g} s)")
    with swift_encoder.SwiftEncoder(swift_encoder.build(timeout=timeout)) as encoder:
        if args.hypothesis == "frames":
            most = args.max_series or differential.MAX_SERIES
            args.progress(f"Hypothesis frames of 1..{most} series, one binary frame per example")
            result = differential.hypothesis_frames(encoder, args.version, args.examples or 1_000, most,
                                                    args.seconds, args.seed)
        elif args.hypothesis == "series":
            args.progress("Hypothesis examples of one series, one JSON line each")
            result = differential.hypothesis_series(encoder, args.version, args.examples or 1_000, args.seconds,
                                                    args.seed)
        else:
            result = differential.run(encoder, args.cases or 1_000_000, args.seed, progress=args.progress,
                                      version=args.version)
    print(result.render())
    return 0 if result else 1


def cmd_evaluate(args: argparse.Namespace) -> int:
    from harness import api
    from trendsplit.evaluate import NET_ROWS, evaluate

    for model in NET_ROWS:  # each net's export folder, before any work
        export_source(args.artifacts / api.model(model).name)
    result = evaluate(n=args.n, seed=args.seed, artifacts=args.artifacts, progress=args.progress)
    print(result.table())
    if args.json:
        result.write_json(args.json)
        args.progress(f"wrote {args.json}")
    return 0


def cmd_shifted(args: argparse.Namespace) -> int:
    from harness import api
    from trendsplit import shifted

    for model in filter(None, (args.candidate, args.reference)):  # each net's export folder, before any work
        export_source(args.artifacts / api.model(model).name)
    result = shifted.evaluate_shifts(args.candidate, args.reference, n=args.n, tune_n=args.tune_n,
                                     artifacts=args.artifacts, progress=args.progress)
    print(result.table())
    command = " ".join(["python -m trendsplit shifted", f"--candidate {args.candidate}",
                        f"--reference {args.reference}", f"--n {args.n}", f"--tune-n {args.tune_n}"]
                       + [f"--{k} {v}" for k, v in (("json", args.json), ("markdown", args.markdown)) if v])
    for path in result.write(args.json, args.markdown, header=shifted.header(command)):
        args.progress(f"wrote {path}")
    return 0 if result else 1


def cmd_threshold(args: argparse.Namespace) -> int:
    from harness import api
    from trendsplit import threshold

    args.progress(f"sweeping the decision threshold of {args.arch} on its validation logs")
    result = threshold.sweep(args.arch)
    print(result.render())
    if args.record:
        args.progress(f"wrote {threshold.record(result, api.model(args.arch).threshold)}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from harness import api
    from trendsplit import bench

    name = model_name(args)
    export_source(args.artifacts / api.model(name).name)  # an unknown model is named before the benchmarks
    result = bench.run(name, args.artifacts, args.fuzz_seconds, args.rounds, progress=args.progress)
    print(result.render())
    if args.json:
        result.write_json(args.json)
        args.progress(f"wrote {args.json}")
    return 0


def build_parser(prog: str = "python -m trendsplit") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    common_options(parser)
    command = subcommands(parser)

    p = command("fixtures", help="regenerate or check the golden fixtures")
    p.add_argument("action", choices=["regenerate", "check"])
    p.add_argument("--dir", type=path_argument(Path), help="fixtures folder (default: the repository's fixtures/)")
    p.set_defaults(func=cmd_fixtures)

    p = command("evaluate", help="task quality (split F1) of the nets on every backend vs baselines")
    p.add_argument("--n", type=CASES, default=1000)
    p.add_argument("--seed", type=SEED, default=10_000)
    p.add_argument("--artifacts", type=output_folder, default="artifacts",
                   help="folder of the export folders (default artifacts)")
    p.add_argument("--json", type=output_file, help="also write the evaluation as JSON here")
    p.set_defaults(func=cmd_evaluate)

    p = command("shifted", help="a net against PELT and the brute force re-tuned per set, on shifted habits "
                                "(issue 31); exit 1 when a criterion fails")
    p.add_argument("--candidate", choices=NETS, default="trendsplit-v4")
    p.add_argument("--reference", choices=NETS, default="trendsplit-v2",
                   help="the net the candidate must not lose to on the standard set")
    p.add_argument("--n", type=CASES, default=1000, help="logs per set (default 1000)")
    p.add_argument("--tune-n", type=CASES, default=300, help="the baselines' tuning logs per set (default 300)")
    p.add_argument("--artifacts", type=output_folder, default="artifacts",
                   help="folder of the export folders (default artifacts)")
    p.add_argument("--json", type=output_file, help="also write the evaluation as JSON here")
    p.add_argument("--markdown", type=output_file, help="also write the table as Markdown here")
    p.set_defaults(func=cmd_shifted)

    p = command("threshold", help="a net's split F1 per decision threshold on its validation logs")
    p.add_argument("--arch", choices=TRAINED_NETS, default="trendsplit-v2")
    p.add_argument("--record", action="store_true", help="also write the sweep into the net's card")
    p.set_defaults(func=cmd_threshold)

    p = command("bench", help="benchmarks: encoder, backends, fuzz throughput (ratios; backends in rounds)")
    model_argument(p)
    p.add_argument("--artifacts", type=output_folder, default="artifacts",
                   help="folder of the export folders (default artifacts)")
    p.add_argument("--fuzz-seconds", type=seconds, default=10.0)
    p.add_argument("--rounds", type=int_in(1, 1000, "the number of rounds"), default=7,
                   help="rounds of the backends' timings in turns; ratios are medians over them (default 7)")
    p.add_argument("--json", type=output_file, help="also write the figures as JSON here")
    p.set_defaults(func=cmd_bench)

    p = command("swift-fuzz", help="Python vs Swift encoder: seeded batches, or Hypothesis frames or series")
    p.add_argument("--cases", type=int_in(1, 10**10, "the number of cases"),
                   help="seeded volume cases (default 1,000,000)")
    p.add_argument("--seed", type=SEED, default=0, help="the volume seed, or Hypothesis's seed")
    p.add_argument("--version", type=int, choices=[1, 2, 3, 4], default=1,
                   help="encoding version (default 1; 4's posterior costs milliseconds a series on both sides)")
    p.add_argument("--hypothesis", nargs="?", const="frames", choices=["frames", "series"],
                   help="Hypothesis instead of seeded volume: `frames` (default; many series per example, "
                        "one binary frame) or `series` (one series per example, JSON lines); shrinks on failure")
    p.add_argument("--examples", type=int_in(1, 10**9, "the number of examples"),
                   help="Hypothesis examples (default 1,000)")
    p.add_argument("--seconds", type=seconds, help="stop a Hypothesis run after this long")
    p.add_argument("--max-series", type=int_in(1, 512, "the series per frame"),
                   help="series per Hypothesis frame, at most (default 128)")
    p.add_argument("--build-timeout", type=seconds,
                   help="stop `swift build` after this long (default $TRENDSPLIT_SWIFT_BUILD_TIMEOUT, else 900)")
    p.set_defaults(func=cmd_swift_fuzz)
    return parser


def main(argv: list[str] | None = None, prog: str = "python -m trendsplit") -> int:
    from trendsplit import installed

    return run(build_parser(prog), argv, before=installed.require)


def script() -> int:
    """The `trendsplit` console script: `main`, its usage lines named as it was invoked."""
    return main(prog=invoked_as())
