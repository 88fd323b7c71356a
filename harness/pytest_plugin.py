"""pytest plugin (entry point `pytest11`): parity tests for your own model in a few lines.

    def test_my_model_converts(harness_parity):
        harness_parity(my_model, backends="torch,onnxruntime,coreml-emulated")

`harness_parity` builds the model once, exports once per model version (the export folder is keyed
by the weights, in pytest's cache; a code change is caught by the export's own fingerprint check)
and fails with the comparison table as the message.
`harness_export` is that cache on its own: call it with a model for its export folder.
Markers: `coreml` (skipped off macOS, with the reason), `swift` (skipped without a Swift
toolchain, an error when TRENDSPLIT_REQUIRE_SWIFT=1), `slow`.

Command-line options, for what a CI job sets (a test's own arguments win): `--harness-backends`,
`--harness-n`, `--harness-seed`, `--harness-policy`, `--harness-atol`/`--harness-rtol` (per policy,
`fp32=1e-4`), `--harness-target` and `--harness-batch` (the CoreML deployment target and declared batch),
`--harness-explain` (precision or bug for every pair, as `parity --explain`), `--harness-artifacts` (the export
cache's folder) and `--harness-cluster` (a Dask cluster
for the chunks, `local:2` or `tcp://host:8786`; default `$HARNESS_CLUSTER`).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

MARKERS = (
    "coreml: needs real CoreML predictions (macOS with coremltools' native runtime); skipped elsewhere",
    "swift: runs the Swift package through a real Swift toolchain",
    "slow: long runs (fuzzing volume, full sweeps); deselected by default, run with -m slow",
)


#: Thread-pool sizes torch (OpenMP), numpy (OpenBLAS, MKL) and the onnxruntime backend read.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def pytest_addoption(parser):
    """What a CI job sets per run; each checked as the harness's command line checks it, before any test."""
    from harness import options
    from harness.cli import ATOL, BACKENDS, BATCH, RTOL, SEED, STREAMED_CASES, TARGET, output_folder, usage_type
    from harness.parity.tolerances import POLICIES

    group = parser.getgroup("trendsplit-harness", "parity tests (harness_parity, harness_export)")
    group.addoption("--harness-backends", type=BACKENDS, metavar="REF[,REF...]",
                    help="backends for harness_parity when a test names none (default: every backend)")
    group.addoption("--harness-n", type=STREAMED_CASES, metavar="N",
                    help=f"cases per harness_parity call when a test gives none (default {options.CASES})")
    group.addoption("--harness-seed", type=SEED, metavar="SEED",
                    help=f"seed when a test gives none (default {options.SEED})")
    group.addoption("--harness-policy", choices=sorted(POLICIES),
                    help="judge every pair by this policy when a test names none (default: by precision)")
    group.addoption("--harness-atol", type=ATOL, metavar="POLICY=VALUE[,...]", action="append",
                    help="replace a policy's atol when a test gives none, e.g. fp32=1e-4 (may be repeated)")
    group.addoption("--harness-rtol", type=RTOL, metavar="POLICY=VALUE[,...]", action="append",
                    help="replace a policy's rtol when a test gives none, e.g. fp16=2e-2 (may be repeated)")
    group.addoption("--harness-target", type=TARGET, metavar="IOS",
                    help="CoreML deployment target when a test names none (iOS15 .. iOS18; default: the model's)")
    group.addoption("--harness-batch", type=BATCH, metavar="SIZES",
                    help="the batch CoreML exports accept when a test declares none: 4, 1,8,32, 1..64 or flexible")
    group.addoption("--harness-explain", action="store_true", default=None,
                    help="set every pair against float64 and its precision's spread (precision or bug), the class "
                         "judging its numbers, when a test says nothing (as parity --explain)")
    group.addoption("--harness-artifacts", type=output_folder, metavar="DIR",
                    help="folder of the export cache (default: pytest's cache, else a temporary folder)")
    group.addoption("--harness-cluster", type=usage_type(options.cluster_flag),
                    metavar="local[:W]|tcp://HOST:PORT|none",
                    help="run harness_parity's chunks on a Dask cluster when a test names none; none: in the test's "
                         f"process (default ${options.CLUSTER_VARIABLE}, else in the test's process)")


def pytest_configure(config):
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    share_cores_between_workers()


def usable_cores() -> int:
    """The cores this process may run on (a container's or taskset's limit, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def share_cores_between_workers() -> None:
    """Under pytest-xdist, give each worker its share of the cores, unless the user set a size.

    Every library sizes its pool to the whole machine, so N workers run N pools on the same
    cores, and idle pool threads spin while waiting: more CPU for the same work.
    """
    count = os.environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    workers = int(count) if count.isdigit() else 1
    if workers < 2 or any(var in os.environ for var in THREAD_VARIABLES):
        return
    share = max(1, usable_cores() // workers)
    for var in THREAD_VARIABLES:
        os.environ[var] = str(share)
    if "torch" in sys.modules:  # imported before this hook: its pool no longer reads the variable
        sys.modules["torch"].set_num_threads(share)


def pytest_collection_modifyitems(config, items):
    coreml_reason = None
    if any("coreml" in item.keywords for item in items):  # a suite without the marker imports nothing
        from harness.backends.coreml import CoreMLBackend

        coreml_reason = CoreMLBackend.unavailable_reason()
    swift_missing = shutil.which("swift") is None
    require_swift = os.environ.get("TRENDSPLIT_REQUIRE_SWIFT") == "1"
    for item in items:
        if coreml_reason and "coreml" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=f"real CoreML: {coreml_reason}"))
        if swift_missing and "swift" in item.keywords:
            if require_swift:  # turn the skip into an error at setup
                item.add_marker(pytest.mark.usefixtures("_harness_fail_missing_swift"))
            else:
                item.add_marker(pytest.mark.skip(reason="no swift toolchain on PATH"))


@pytest.fixture
def _harness_fail_missing_swift():
    pytest.fail("TRENDSPLIT_REQUIRE_SWIFT=1 but no swift toolchain on PATH")


@pytest.fixture(scope="session")
def harness_artifacts(request, tmp_path_factory) -> Path:
    """Where exports live for the session: --harness-artifacts, else pytest's cache when it has one, so runs
    reuse them."""
    given = request.config.getoption("harness_artifacts")
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        return Path(given)
    cache = getattr(request.config, "cache", None)
    return Path(cache.mkdir("trendsplit-harness")) if cache else tmp_path_factory.mktemp("trendsplit-harness")


def _built(model, target: str | None = None, batch=None):
    """A fixture's model argument (a spec or a registered name) as a spec whose module is built once,
    exported for `target` with `batch` (each None: the model's own)."""
    from harness.models import get_model
    from harness.spec import built

    return built((get_model(model) if isinstance(model, str) else model).deployed(target, batch))


def _export_folder(artifacts: Path, spec) -> Path:
    """A model version's export folder in the cache: keyed by name, weights, deployment target and declared
    batch, each in a parent of its own, so pytest-xdist workers exporting different models do not queue on one lock."""
    import hashlib

    from harness.shapes import FLEXIBLE
    from harness.spec import weights_sha256

    batch = "" if spec.batch == FLEXIBLE else f"-batch{hashlib.sha256(str(spec.batch).encode()).hexdigest()[:8]}"
    return artifacts / f"{spec.name}-{weights_sha256(spec.build())[:16]}-{spec.target}{batch}" / spec.name


@pytest.fixture(scope="session")
def harness_export(harness_artifacts, pytestconfig):
    """Call with a model (and optionally `target=`, `batch=`): its export folder, exported once per model
    version, target and batch for the whole run.

    A stale folder (code, tools or files changed) is re-exported by the export's own checks; two
    workers asking for one model export it once.
    """
    from harness import options
    from harness.errors import UsageError
    from harness.export import ensure_exported

    def export(model, *, target: str | None = None, batch=None) -> Path:
        def given(name: str, value):
            return value if value is not None else pytestconfig.getoption(f"harness_{name}")

        try:
            spec = _built(model, options.target(given("target", target)), options.batch(given("batch", batch)))
        except UsageError as err:
            pytest.fail(f"harness_export: {err}", pytrace=False)
        folder = _export_folder(harness_artifacts, spec)
        ensure_exported(spec, folder)
        return folder

    return export


def judge_outcome(report, model: str, *, requested: bool) -> None:
    """The test's outcome from the report's one verdict: a failure or a vacuous pair fails; a backend
    the test asked for that cannot run here skips with its reason (never a pass); else it passes."""
    from harness.report import format_report

    vacuous = any(c.verdict == "inconclusive" for c in report.comparisons)
    if report.status == "FAILED" or vacuous or (report.status == "INCONCLUSIVE" and not report.not_run):
        pytest.fail(f"parity {report.status.lower()} for {model}:\n{format_report(report)}", pytrace=False)
    if report.not_run and (requested or not report):
        pytest.skip("; ".join(f"{r.label} cannot run here: {r.reason}" for r in report.not_run))


@pytest.fixture(scope="session")
def harness_parity(harness_artifacts, pytestconfig):
    """Call with a model (`harness.describe`, a registered name or `path.py:factory`): exports, runs the
    backends, and fails the test with the comparison table unless every pair passes its policy.
    What the test does not give comes from the --harness-* options, then the defaults."""
    from harness import options
    from harness.errors import UsageError
    from harness.parity import steps

    def option(name: str, given, default=None):
        if given is not None:
            return given
        chosen = pytestconfig.getoption(f"harness_{name}")
        return chosen if chosen is not None else default

    def check(model, backends: str | Sequence[str] | None = None, *, n: int | None = None, seed: int | None = None,
              policy: str | None = None, atol=None, rtol=None, target: str | None = None, batch=None,
              cluster: str | None = None, explain: bool | None = None):
        backends, policy = option("backends", backends), option("policy", policy)
        explain = bool(option("explain", explain, False))
        try:
            n, seed = options.cases(option("n", n)), options.seed(option("seed", seed))
            overrides = options.overrides(option("atol", atol), option("rtol", rtol))
            chosen, judged_by = options.backends(backends), options.policy(policy)
            cluster = options.cluster(option("cluster", cluster))
            spec = _built(model, options.target(option("target", target)), options.batch(option("batch", batch)))
            folder = _export_folder(harness_artifacts, spec)  # parity exports or reuses it
            if cluster is not None:
                from harness.cluster.parity import parity as on_cluster

                report = on_cluster(spec, chosen, n=n, seed=seed, cluster=cluster, policy=judged_by,
                                    overrides=overrides, folder=folder, explain=explain)
            else:
                report = steps.parity(spec, chosen, n=n, seed=seed, policy=judged_by, overrides=overrides,
                                      folder=folder, explain=explain)
        except UsageError as err:  # what the test asked for is wrong: one line, as the command line says it
            pytest.fail(f"harness_parity: {err}", pytrace=False)
        judge_outcome(report, spec.name, requested=backends is not None)
        return report

    return check
