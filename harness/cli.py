"""Command line: a thin layer over `harness.export` and the steps in `harness.parity.steps`.

Exit codes: 0 pass, 1 parity or check failure, 2 usage error (unknown model, backend, a bad
argument or output path). Every argument, output paths included, is checked before any work.
Every error is one line on stderr; -v (or HARNESS_DEBUG=1) shows the traceback of an internal error,
-q keeps progress (messages and bars) off stderr.

Writers of one folder take turns; one that waits for another process says so and gives up after
HARNESS_LOCK_TIMEOUT seconds (default 600), exit 1, naming the folder and the holder's pid.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from harness import __version__, atomic, backend_names, options
from harness.compute_units import COMPUTE_UNITS
from harness.errors import HarnessError, UsageError
from harness.parity.tolerances import POLICIES
from harness.parity.tolerances import parse as parse_tolerances
from harness.progress import Progress
from harness.text import printable

MAX_CASES = options.MAX_SAVED_CASES


def int_in(low: int, high: int, what: str) -> Callable[[str], int]:
    """An argparse type: a whole number in [low, high], checked as every face checks one (`options.whole`)."""
    return usage_type(lambda text: options.whole(text, what, low, high))


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seconds must be a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0 or value > 86_400:
        raise argparse.ArgumentTypeError(f"seconds must be a finite number in (0, 86400], got {text!r}")
    return value


def profile(text: str) -> str:
    """An interpreter precision profile by name (its registry is imported only for `localize`)."""
    from harness.mil.profiles import PROFILES

    if text not in PROFILES:
        raise argparse.ArgumentTypeError(f"unknown precision profile {text!r}; known: {', '.join(PROFILES)}")
    return text


def usage_type(parse: Callable[[str], object]) -> Callable[[str], object]:
    """An argparse type from a function that raises UsageError: its message becomes argparse's one line."""

    def check(text: str):
        try:
            return parse(text)
        except UsageError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    check.__name__ = getattr(parse, "__name__", "value")
    return check


def backend_list(text: str) -> str:
    """A comma list of backend references, each one of the declared choices (checked without importing torch)."""
    refs = [r.strip() for r in text.split(",") if r.strip()]
    if not refs:
        raise UsageError(f"no backend named; known backends: {backend_names.choices()}")
    return ",".join(backend_names.check(r) for r in refs)


BACKENDS = usage_type(backend_list)
ATOL = usage_type(lambda text: parse_tolerances(text, "atol"))
RTOL = usage_type(lambda text: parse_tolerances(text, "rtol"))
CASES = usage_type(lambda text: options.cases(text, saved=True))
STREAMED_CASES = usage_type(options.cases)
SEED = usage_type(options.seed)
TARGET = usage_type(options.target)
BATCH = usage_type(options.batch)


def path_argument(check: Callable[[Path], Path]) -> Callable[[str], Path]:
    """An argparse type from one of the `atomic` checks: the path, or its one-line reason."""

    def parse(text: str) -> Path:
        try:
            return check(Path(atomic.named(text)))
        except UsageError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    parse.__name__ = check.__name__
    return parse


def _not_an_export(folder: Path) -> str | None:
    """`harness.export.manifest.not_an_export`, imported (with torch) only for a folder that holds something."""
    from harness.export.manifest import not_an_export

    return not_an_export(folder)


def export_target(path: Path) -> Path:
    """An export folder to write: new, empty or the harness's own export, in a folder that takes files."""
    atomic.check_replaceable(path, _not_an_export)
    atomic.accepts_new_files(path.parent, path)
    return path


def export_source(path: Path) -> Path:
    """An export folder to reuse or fill: the harness's own (reused as it is), or new and creatable."""
    if not atomic.check_replaceable(path, _not_an_export).exists():
        atomic.accepts_new_files(path.parent, path)
    return path


def _not_a_compression(folder: Path) -> str | None:
    """`harness.compression.not_ours`, imported (with torch) only for a folder that holds something."""
    from harness.compression import not_ours

    return not_ours(folder)


def compression_target(path: Path) -> Path:
    """A compression folder to write: new, empty or the harness's own, in a folder that takes files."""
    atomic.check_replaceable(path, _not_a_compression)
    atomic.accepts_new_files(path.parent, path)
    return path


output_file = path_argument(atomic.check_file)
output_folder = path_argument(atomic.check_folder)
EXPORT_TARGET = path_argument(export_target)
EXPORT_SOURCE = path_argument(export_source)
COMPRESSION_TARGET = path_argument(compression_target)


def _apart(export: Path, **outputs: Path | None) -> None:
    """Refuse outputs that would land in the export folder (replaced whole, and then not the harness's
    own any more), or two outputs on one file."""
    where = {name: Path(p).resolve() for name, p in outputs.items() if p is not None}
    folder = Path(export).resolve()
    for name, p in where.items():
        if p == folder or folder in p.parents:
            raise UsageError(f"--{name} {outputs[name]} is in the export folder {export}, which the harness "
                             "replaces whole: name a place outside it")
    seen: dict[Path, str] = {}
    for name, p in where.items():
        if p in seen:
            raise UsageError(f"--{seen[p]} and --{name} name the same path {outputs[name]}")
        seen[p] = name


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): not the same file
        return False


def _not_over_inputs(inputs: Sequence[Path], **outputs: Path | None) -> None:
    """Refuse an output that would replace a file this command reads (a results file, the cases, the
    comparison being drawn, through any name or link), or another output: it would be lost."""
    named = {}
    for name, p in outputs.items():
        if p is None:
            continue
        named[name] = Path(p)
        if name == "json":  # a comparison's localisations are written beside it
            named["json's localisations"] = Path(p).with_name(Path(p).stem + ".localization.json")
    for name, p in named.items():
        read = next((i for i in inputs if _same_file(p, i)), None)
        if read is not None:
            raise UsageError(f"--{name} {p} is {read}, which this command reads: name another file")
    paths = list(named.items())
    for i, (name, p) in enumerate(paths):
        other = next((n for n, q in paths[:i] if p.resolve() == q.resolve() or _same_file(p, q)), None)
        if other is not None:
            raise UsageError(f"--{other} and --{name} name the same path {p}")


def cmd_export(args: argparse.Namespace) -> int:
    from harness.export import export_model
    from harness.parity.steps import export_folder

    spec = model_spec(args)
    out = args.out or export_target(export_folder(spec))
    manifest = export_model(spec, out, progress=args.progress)
    for a in manifest.artifacts:
        print(f"{out / a.path}  {a.format}@{a.precision}  sha256 {a.sha256[:16]}")
    print(f"{out / 'manifest.json'}")
    return 0


def _backends(args: argparse.Namespace):
    return options.backends(args.backends, compute_units=args.compute_units)


def _export_folder(args: argparse.Namespace, spec) -> Path:
    """The export folder a run uses, checked before any work (`--artifacts` was, when given)."""
    from harness.parity.steps import export_folder

    return args.artifacts or export_source(export_folder(spec))


def _policy(args: argparse.Namespace):
    return options.policy(args.policy)


def _overrides(args: argparse.Namespace):
    return options.overrides(args.atol, args.rtol)  # each a list, one per flag given: later ones win per policy


def _show(report, args: argparse.Namespace) -> int:
    """Print the table, write what was asked for, exit 0 on a pass."""
    from harness import report as reports

    print(reports.write(report, json=getattr(args, "json", None), html=getattr(args, "html", None)))
    for path in (getattr(args, "json", None), getattr(args, "html", None)):
        if path:
            args.progress(f"wrote {path}")
    return 0 if report else 1


def cmd_parity(args: argparse.Namespace) -> int:
    from harness.parity import steps

    if args.save and args.n > MAX_CASES:
        raise UsageError(f"--save keeps every output: at most {MAX_CASES:,} cases with it, got {args.n:,} "
                         "(without --save, parity streams any number)")
    cluster = options.cluster(args.cluster)  # HARNESS_CLUSTER when --cluster is not given
    if cluster is not None and args.save:
        raise UsageError("--save keeps every output in this process: not with a cluster (--cluster or "
                         f"{options.CLUSTER_VARIABLE})")
    if cluster is not None:
        from harness.cluster.connect import distributed

        distributed()  # the extra is installed: said before any work
    spec = model_spec(args)
    backends, policy = _backends(args), _policy(args)
    _apart(_export_folder(args, spec), save=args.save, json=args.json, html=args.html)
    if args.save:  # the run's own files in --save are written first: --json or --html must not replace one
        from harness.results import CASES_FILE, RUN_FILE, results_file_name

        saved = (CASES_FILE, RUN_FILE, *(results_file_name(b.label) for b in backends))
        _not_over_inputs((), json=args.json, html=args.html, **{f"save's {n}": args.save / n for n in saved})
    if cluster is not None:
        from harness.cluster.parity import parity as on_cluster

        report = on_cluster(spec, backends, n=args.n, seed=args.seed, cluster=cluster, policy=policy,
                            overrides=_overrides(args), folder=args.artifacts, overview=bool(args.html),
                            progress=args.progress, explain=args.explain)
    else:
        report = steps.parity(spec, backends, n=args.n, seed=args.seed, policy=policy, overrides=_overrides(args),
                              folder=args.artifacts, overview=bool(args.html), save=args.save,
                              progress=args.progress, explain=args.explain)
    if args.save:
        args.progress(f"wrote the run's files to {args.save}")
    return _show(report, args)


def cmd_run(args: argparse.Namespace) -> int:
    from harness.parity import steps

    spec = model_spec(args)
    backends = _backends(args)
    out = args.out or atomic.check_folder(Path("results") / spec.name)
    _apart(_export_folder(args, spec), out=out)
    done = steps.run(spec, backends, n=args.n, seed=args.seed, folder=args.artifacts, progress=args.progress)
    out = done.write(out)
    print(f"{out / 'cases.json'}  {len(done.cases.cases)} cases, seed {args.seed}, "
          f"inputs sha256 {done.cases.inputs.sha256[:16]}")
    for r in done.results:
        state = f"ran in {r.seconds:.2f} s" if r.status == "ran" else f"{r.status}: {r.reason}"
        print(f"{out / r.file_name}  {r.backend}  {state}")
    return 1 if any(r.status == "failed" for r in done.results) else 0


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.parity import judge

    if args.artifacts is not None and not Path(atomic.named(args.artifacts)).is_dir():
        raise UsageError(f"--artifacts {args.artifacts} is not a folder: name the export folder to localise in")
    done = judge.read_results(args.results, args.cases)
    _not_over_inputs(done.sources, json=args.json, html=args.html)
    spec = _model_at_hand(args.model, done.cases.model)
    folder = Path(args.artifacts) if args.artifacts else Path("artifacts") / spec.name if spec else None
    report = judge.compare(done.cases, done.results, policy=_policy(args), artifact_checks=done.artifact_checks,
                           artifacts=folder if folder is not None and folder.is_dir() else None, spec=spec,
                           overview=args.ops, progress=args.progress, overrides=_overrides(args),
                           explain=args.explain)
    return _show(report, args)


def _model_at_hand(named: str | None, recorded: str):
    """The model `compare` re-measures claims against and names torch modules with: the one named, else the
    cases' own when the harness knows it. None where it cannot be had (a name it does not know, or a machine
    without torch): saved results are then judged by their numbers alone, as a phone's are anywhere."""
    try:
        from harness.models import get_model
    except ImportError as err:
        if named:
            raise UsageError(f"--model {named} needs the model's code, which needs {err.name}: "
                             f"install it, or leave out --model to judge the files alone") from None
        return None
    try:
        return get_model(named or recorded)
    except UsageError:
        if named:
            raise
        return None  # a model the harness cannot name: ops are shown by their MIL names only


def cmd_report(args: argparse.Namespace) -> int:
    from harness.parity.verdict import ParityReport

    if args.saved is None:  # the one-shot form: parity, then the report
        from harness.models import default_model

        args.model = args.model or default_model()
        if args.model is None:
            raise UsageError("name a saved comparison (report comparison.json) or a model (--model)")
        args.n = options.cases(args.n)
        args.seed = options.seed(args.seed)
        args.compute_units = args.compute_units or "ALL"
        args.save = args.cluster = None  # the cluster, if any, from HARNESS_CLUSTER
        args.explain = bool(args.explain)
        return cmd_parity(args)
    one_shot = ("model", "backends", "n", "seed", "policy", "compute_units", "artifacts", "atol", "rtol", "target",
                "batch", "explain")
    given = [f"--{k.replace('_', '-')}" for k in one_shot if getattr(args, k) is not None]
    if given:
        raise UsageError(f"report {args.saved} draws from a saved comparison; {', '.join(given)} "
                         "belong to the one-shot form (report --model ...)")
    saved = Path(args.saved)
    report = ParityReport.read(saved)
    _not_over_inputs([saved, saved.with_name(saved.stem + ".localization.json")], json=args.json, html=args.html)
    return _show(report, args)


def cmd_compress(args: argparse.Namespace) -> int:
    from harness import compression

    spec = model_spec(args)
    folder = args.out or compression_target(Path("artifacts") / f"{spec.name}-compressed")
    figure = args.figure or atomic.check_file(Path("reports") / f"{spec.name}-compression.png")
    _apart(folder, figure=figure, json=args.json, markdown=args.markdown)
    report = compression.compress(spec, folder, n=args.n, seed=args.seed, policy=_policy(args),
                                  progress=args.progress)
    print(report.text())
    atomic.write_bytes(figure, report.figure())
    args.progress(f"wrote {folder} and {figure}")
    if args.json:
        atomic.write_text(args.json, json.dumps(report.to_dict(), indent=1) + "\n")
        args.progress(f"wrote {args.json}")
    if args.markdown:
        atomic.write_text(args.markdown, report.text() + "\n")
        args.progress(f"wrote {args.markdown}")
    return 0 if report.baseline.verdict == "pass" else 1


def cmd_localize(args: argparse.Namespace) -> int:
    from harness.export import ensure_exported
    from harness.mil import load_program
    from harness.mil.localize import localize, torch_module_paths
    from harness.parity.steps import built, export_folder
    from harness.shapes import parse as parse_batch

    spec = built(model_spec(args))
    spec.one_call_at_a_time("localize")
    folder = args.artifacts or export_source(export_folder(spec))
    manifest = ensure_exported(spec, folder, progress=args.progress)
    if args.pair:
        from harness.parity.modules import localize_pair

        found = localize_pair(spec, folder, args.pair, list(range(args.n)), spec.make_cases(args.n, args.seed).feeds)
        print(f"{spec.name}, {args.n:,} cases (seed {args.seed})")
        print(found.render())
        return 1 if args.check and (found.first is not None or not found.localised) else 0
    program = load_program(folder / manifest.artifact("coreml", args.precision).path)
    cases = spec.make_cases(args.n, args.seed)
    taken = parse_batch(manifest.batch).first(args.n)  # as many as the program's declared batch takes
    result = localize(program, cases.take(taken), args.reference, args.profile,
                      modules=torch_module_paths(spec.build(), spec.examples(batch=1)))
    print(f"{spec.name} coreml@{args.precision}, {len(set(taken)):,} cases (seed {args.seed})")
    print(result.render())
    if not args.check:
        print("(a diagnosis: parity judges the model; with --check an op past its limit exits 1)")
        return 0
    return 0 if result else 1


def cmd_advise(args: argparse.Namespace) -> int:
    from harness.models import get_model
    from harness.parity.advise import advise
    from harness.parity.steps import export_folder

    spec = get_model(model_name(args))
    folder = args.artifacts or export_source(export_folder(spec))
    _apart(folder, json=args.json)
    advice = advise(spec, folder, profile=args.profile, n=args.n, seed=args.seed, progress=args.progress)
    print(advice.render())
    if args.json:
        import json

        atomic.write_text(args.json, json.dumps(advice.to_dict(), indent=1) + "\n")
        args.progress(f"wrote {args.json}")
    return 0 if advice.fixed else 1


def cmd_models(args: argparse.Namespace) -> int:
    """Every model name `--model` accepts: the providers' (and their default), then the zoo's."""
    from harness import zoo
    from harness.models import default_model, registered

    default = default_model()
    for name in registered():
        print(name + ("  (default)" if name == default else ""))
    for name in zoo.ZOO:
        print(name)
    if default is None:
        args.progress("no installed model provider names a default: commands need --model")
    return 0


def cmd_policies(args: argparse.Namespace) -> int:
    """The tolerance policies: the table in docs/tolerances.md, then each policy's reasoning."""
    from harness.parity.tolerances import table

    print(table())
    for policy in POLICIES.values():
        print(f"\n{policy.name}: {policy.reason}")
    return 0


#: What `--model` accepts. Listing the names imports torch and every provider's networks (seconds), which
#: no help text waits for: `models` lists them.
MODEL_HELP = ("a model name (list them: python -m harness models; default: the installed providers' default), "
              "or path/to/file.py:name for your own")


def common_options(parser: argparse.ArgumentParser, suppress: bool = False) -> None:
    """-q/-v on `parser`: on the main parser and on each subcommand, so both places work."""
    default = argparse.SUPPRESS if suppress else 1
    parser.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=0, default=default,
                        help="no progress messages or bars on stderr (results and errors still)")
    parser.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=2, default=default,
                        help="also the traceback of an internal error")


def subcommands(parser: argparse.ArgumentParser) -> Callable[..., argparse.ArgumentParser]:
    """`add(name, help=...)` for `parser`'s subcommands, each taking -q/-v as the main parser does."""
    commands = parser.add_subparsers(dest="command", required=True)

    def add(name: str, **kwargs) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, **kwargs)
        common_options(sub, suppress=True)
        return sub

    return add


def model_argument(parser: argparse.ArgumentParser) -> None:
    """`--model` (the default is the providers' when not given)."""
    parser.add_argument("--model", help=MODEL_HELP)


def model_name(args: argparse.Namespace) -> str:
    """The model asked for, else the providers' default."""
    from harness.models import default_model

    name = args.model or default_model()
    if name is None:
        raise UsageError("name a model with --model: no installed model provider names a default")
    return name


def model_spec(args: argparse.Namespace):
    """The model asked for, exported for `--target` and with `--batch` when given."""
    from harness.models import get_model

    return get_model(model_name(args)).deployed(args.target, args.batch)


def target_argument(parser: argparse.ArgumentParser) -> None:
    """`--target` and `--batch`: the CoreML deployment target and declared batch (default: the model's own)."""
    from harness.targets import TARGETS

    parser.add_argument("--target", type=TARGET, metavar="IOS",
                        help=f"CoreML deployment target: {', '.join(TARGETS)} (default: the model's, else iOS15); "
                             "a changed target re-exports")
    parser.add_argument("--batch", type=BATCH, metavar="SIZES",
                        help="the batch the CoreML export accepts: a size (4), sizes (1,8,32), a range (1..64) or "
                             "flexible (1..1024; default: the model's, else flexible)")


def tolerance_arguments(parser: argparse.ArgumentParser) -> None:
    """--atol/--rtol per policy: what judges a pair, changed by name (and renamed so that reports show it)."""
    for flag, kind, example in (("--atol", ATOL, "fp32=1e-4"), ("--rtol", RTOL, "fp16=2e-2")):
        parser.add_argument(flag, type=kind, metavar="POLICY=VALUE[,...]", action="append",
                            help=f"replace a policy's {flag[2:]} (e.g. {example}; policies: {', '.join(POLICIES)}; "
                                 "may be repeated)")


def run_arguments(parser: argparse.ArgumentParser, streamed: bool) -> None:
    """What a run needs: backends, cases, seed, compute units, export folder."""
    parser.add_argument("--backends", type=BACKENDS, metavar="REF[,REF...]",
                        help=f"comma list of references, the first the reference run (default: every backend); "
                             f"choices: {backend_names.choices()}")
    parser.add_argument("--n", type=STREAMED_CASES if streamed else CASES, default=options.CASES,
                        help=f"number of cases (default {options.CASES}"
                        + (f"; judged in chunks, so any number; at most {MAX_CASES:,} with --save)" if streamed
                           else f", at most {MAX_CASES:,})"))
    parser.add_argument("--seed", type=SEED, default=options.SEED)
    parser.add_argument("--compute-units", default="ALL", type=str.upper, choices=COMPUTE_UNITS,
                        help="CoreML compute units: CPU_ONLY, CPU_AND_GPU, CPU_AND_NE, ALL")
    parser.add_argument("--artifacts", type=EXPORT_SOURCE,
                        help="export folder to reuse or fill (default artifacts/<model>)")
    target_argument(parser)


def build_parser(prog: str = "python -m harness") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    common_options(parser)
    command = subcommands(parser)

    p = command("models", help="list every model name --model accepts")
    p.set_defaults(func=cmd_models)

    p = command("policies", help="the tolerance policies: their numbers (docs/tolerances.md's table) and reasoning")
    p.set_defaults(func=cmd_policies)

    p = command("export", help="export a model to ONNX and CoreML (fp32 and fp16)")
    model_argument(p)
    p.add_argument("--out", type=EXPORT_TARGET, help="output folder: new, empty, or an export this harness "
                                                     "wrote (default artifacts/<model>)")
    target_argument(p)
    p.set_defaults(func=cmd_export)

    p = command("parity", help="run seeded cases through backends and compare (run, compare, report in one)")
    model_argument(p)
    run_arguments(p, streamed=True)
    p.add_argument("--policy", choices=sorted(POLICIES), help="judge every pair by this policy (default: by precision)")
    tolerance_arguments(p)
    p.add_argument("--explain", action="store_true",
                   help="set every pair against float64 and its precision's Monte Carlo spread: precision or bug "
                        "(failing pairs always are)")
    p.add_argument("--save", type=output_folder,
                   help="also write the run's files (cases and one results file per backend) here")
    p.add_argument("--cluster", type=usage_type(options.cluster_flag), metavar="local[:W]|tcp://HOST:PORT|none",
                   help="run the chunks on a Dask cluster: local[:W] starts W worker processes here, an address "
                        f"names a running scheduler, none runs in this process (default ${options.CLUSTER_VARIABLE}, "
                        "else this process; a cluster needs the cluster extra)")
    p.add_argument("--json", type=output_file, help="also write the report as JSON here")
    p.add_argument("--html", type=output_file, help="also write the self-contained HTML report here")
    p.set_defaults(func=cmd_parity)

    p = command("run", help="run seeded cases through backends and save one results file per backend")
    model_argument(p)
    run_arguments(p, streamed=False)
    p.add_argument("--out", type=output_folder,
                   help="folder for cases.json, the results files and run.json (default results/<model>)")
    p.set_defaults(func=cmd_run)

    p = command("compare", help="judge saved results against the first (results files or run folders)")
    p.add_argument("results", nargs="+", help="results files or run folders; the first result is the reference")
    p.add_argument("--cases", help="the cases file (default: the first run folder's, or cases.json beside the first "
                                   "results file)")
    p.add_argument("--policy", choices=sorted(POLICIES),
                   help="judge every pair by this policy (default: the model's, else by precision)")
    tolerance_arguments(p)
    p.add_argument("--model", help="the model, to name torch modules when localising (default: the results' model)")
    p.add_argument("--artifacts", help="export folder, to localise failing emulated pairs (default artifacts/<model>)")
    p.add_argument("--ops", action="store_true", help="also profile the fp16 program op by op for the HTML report")
    p.add_argument("--explain", action="store_true",
                   help="set every pair against float64 and its precision's Monte Carlo spread: precision or bug "
                        "(failing pairs always are)")
    p.add_argument("--json", type=output_file, help="write the comparison (and its localisation) as JSON here")
    p.add_argument("--html", type=output_file, help="also write the self-contained HTML report here")
    p.set_defaults(func=cmd_compare)

    p = command("report", help="the report of a saved comparison (report comparison.json), or run parity "
                                      "and write the HTML report (report --model ...)")
    p.add_argument("saved", nargs="?", help="a comparison written by compare --json or parity --json")
    p.add_argument("--model", help="(one-shot form) the model, as parity")
    p.add_argument("--backends", type=BACKENDS, metavar="REF[,REF...]", help="(one-shot form) as parity")
    p.add_argument("--n", type=STREAMED_CASES,
                   help=f"(one-shot form) number of cases (default {options.CASES}, as parity)")
    p.add_argument("--seed", type=SEED)
    p.add_argument("--policy", choices=sorted(POLICIES))
    tolerance_arguments(p)
    p.add_argument("--compute-units", type=str.upper, choices=COMPUTE_UNITS)
    p.add_argument("--artifacts", type=EXPORT_SOURCE)
    p.add_argument("--explain", action="store_true", default=None, help="(one-shot form) as parity")
    target_argument(p)
    p.add_argument("--json", type=output_file)
    p.add_argument("--html", "--out", dest="html", type=output_file, default="reports/parity.html",
                   help="where to write the report (default reports/parity.html)")
    p.set_defaults(func=cmd_report)

    p = command("compress", help="the compression trade-off: the CoreML program compressed every way a team ships "
                                 "it (int8, palettes, pruning), size on disk against parity with torch, and a figure")
    model_argument(p)
    p.add_argument("--n", type=CASES, default=options.CASES, help=f"number of cases (default {options.CASES})")
    p.add_argument("--seed", type=SEED, default=options.SEED)
    p.add_argument("--policy", choices=sorted(POLICIES),
                   help="judge every variant by this policy (default fp16: decisions first, numbers reported)")
    target_argument(p)
    p.add_argument("--out", type=COMPRESSION_TARGET,
                   help="folder for the variants and compression.json: new, empty or one this harness wrote "
                        "(default artifacts/<model>-compressed)")
    p.add_argument("--figure", type=output_file,
                   help="the size-against-decisions figure, PNG (default reports/<model>-compression.png)")
    p.add_argument("--json", type=output_file, help="also write the measurements as JSON here")
    p.add_argument("--markdown", type=output_file, help="also write the table (markdown) here")
    p.set_defaults(func=cmd_compress)

    p = command("localize", help="first op where an fp16 run of the CoreML program diverges")
    model_argument(p)
    p.add_argument("--precision", default="fp16", choices=["fp32", "fp16"], help="which CoreML artifact")
    p.add_argument("--reference", default="fp32", type=profile, help="reference profile (default fp32)")
    p.add_argument("--profile", default="fp16", type=profile, help="candidate profile (default fp16)")
    p.add_argument("--pair", type=usage_type(backend_names.check), metavar="BACKEND",
                   help="localise this backend against float64 module by module, in torch's names (e.g. onnxruntime, "
                        "coreml-emulated@fp16[fp16]); default: the CoreML program's ops, fp16 against fp32")
    p.add_argument("--n", type=CASES, default=64)
    p.add_argument("--seed", type=SEED, default=options.SEED)
    p.add_argument("--artifacts", type=EXPORT_SOURCE, help="export folder to reuse or fill (default artifacts/<model>)")
    target_argument(p)
    p.add_argument("--check", action="store_true",
                   help="exit 1 when an op diverges past its limit, or (--pair) no module could be mapped "
                        "(default: report only, exit 0)")
    p.set_defaults(func=cmd_localize)

    p = command("advise", help="the fewest ops to keep in fp32 so an fp16 program decides as float64 does, verified")
    model_argument(p)
    p.add_argument("--profile", default="fp16", type=profile, help="the profile to fix (default fp16)")
    p.add_argument("--n", type=CASES, default=256, help="cases judged (default 256)")
    p.add_argument("--seed", type=SEED, default=options.SEED)
    p.add_argument("--artifacts", type=EXPORT_SOURCE, help="export folder to reuse or fill (default artifacts/<model>)")
    p.add_argument("--json", type=output_file, help="also write the advice as JSON here")
    p.set_defaults(func=cmd_advise)
    return parser


def run(parser: argparse.ArgumentParser, argv: list[str] | None, before: Callable[[], None] | None = None) -> int:
    """Parse and run one command: every error one line on stderr, with the documented exit code.
    `before`: a check of the installation, run first (the kit's extra)."""
    args = parser.parse_args(argv)
    args.progress = Progress(args.verbosity)
    # torch's OpenMP pool spins after each call unless told to sleep, on the cores the next backend of the
    # same process needs (parity and the benchmarks run backends in turns): the interpreter timed right after
    # torch took 20.6 ms against 15.8 ms (docs/trendsplit/benchmarks.md). Read once, when torch loads; a
    # policy the user set stands. onnxruntime's pool is told the same per session.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        if before is not None:
            before()
        atomic.lock_timeout()  # the environment is read as an argument too: before any work
        return args.func(args)
    except UsageError as err:
        print(f"{parser.prog}: error: {printable(err)}", file=sys.stderr)
        return 2
    except HarnessError as err:
        print(f"{parser.prog}: {printable(err)}", file=sys.stderr)
        output = getattr(err, "output", "")
        if output:
            said = "\n".join(f"  | {printable(line)}" for line in output.splitlines())
            print("  the converter said (last lines):\n" + said, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a bug of ours: one line, the traceback on request
        if os.environ.get("HARNESS_DEBUG") == "1" or args.verbosity > 1:
            raise
        print(f"{parser.prog}: internal error: {type(err).__name__}: {printable(err)} "
              "(set HARNESS_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None, prog: str = "python -m harness") -> int:
    return run(build_parser(prog), argv)


def invoked_as() -> str:
    """The command's name as the user typed it (`trendsplit-harness`), for a console script's usage lines."""
    return Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "trendsplit-harness"


def script() -> int:
    """The `trendsplit-harness` console script: `main`, its usage lines named as it was invoked."""
    return main(prog=invoked_as())
