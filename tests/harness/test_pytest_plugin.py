"""The pytest plugin, run for real in an inner pytest session (pytester)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.user_model import tiny_vision

EXAMPLE = str(Path(tiny_vision.__file__))

pytestmark = pytest.mark.usefixtures("converters_imported")  # inner sessions export (see the fixture)


@pytest.fixture
def cached_tiny_vision(pytester, harness_export):
    """The inner session's pytest cache holding tiny-vision's export, as a second run of a user's
    suite finds it; returns the manifest's modification time, which a reuse leaves alone."""
    import shutil

    from harness import api

    folder = harness_export(api.load(EXAMPLE + ":describe_model"))
    inner = pytester.path / ".pytest_cache" / "d" / "trendsplit-harness" / folder.parent.name
    shutil.copytree(folder.parent, inner)
    return inner / folder.name / "manifest.json", (inner / folder.name / "manifest.json").stat().st_mtime_ns


def test_a_users_parity_test_passes_in_a_few_lines(pytester):
    pytester.makepyfile(f"""
        from harness import api

        def test_tiny_vision_converts(harness_parity):
            model = api.load({EXAMPLE!r} + ":describe_model")
            report = harness_parity(model, "torch,onnxruntime,coreml-emulated@fp32", n=32)
            assert len(report.comparisons) == 4
    """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_a_failing_parity_test_shows_the_table_and_a_second_run_reuses_the_export(pytester, cached_tiny_vision):
    pytester.makepyfile(f"""
        import dataclasses
        from harness import api
        from harness.parity import tolerances

        def test_impossible_policy(harness_parity, monkeypatch):
            exact = dataclasses.replace(tolerances.FP32, name="exact", atol=0.0, rtol=0.0, input_scaled=False)
            monkeypatch.setitem(tolerances.POLICIES, "exact", exact)
            harness_parity(api.load({EXAMPLE!r} + ":describe_model"), "torch,onnxruntime", n=32,
                           policy="exact")
    """)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*parity failed for tiny-vision*", "*onnxruntime@fp32 vs torch@fp32 ?logits?*FAIL*"])
    manifest, written = cached_tiny_vision
    assert manifest.stat().st_mtime_ns == written  # the cached export was checked and reused, not redone


def test_the_plugin_registers_markers_and_skips_coreml_off_macos(pytester):
    import sys

    pytester.makepyfile("""
        import pytest

        @pytest.mark.coreml
        def test_needs_a_mac():
            pass
    """)
    result = pytester.runpytest("--strict-markers", "-rs", "-p", "no:cacheprovider")
    if sys.platform == "darwin":  # coremltools predicts there: the test runs
        result.assert_outcomes(passed=1)
        return
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*real CoreML: MLModel.predict needs macOS*"])


def test_a_suite_that_uses_nothing_of_the_harness_pays_nothing_for_its_plugin(pytester):
    # The plugin loads in every pytest run of an environment that has the harness installed.
    pytester.makepyfile("""
        import sys

        def test_nothing_heavy_was_imported():
            assert not {"torch", "coremltools", "onnxruntime", "harness.backends"} & set(sys.modules)
    """)
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist").assert_outcomes(passed=1)


@pytest.fixture
def torch_threads():
    import torch

    before = torch.get_num_threads()
    yield torch
    torch.set_num_threads(before)


def test_xdist_workers_share_the_cores_instead_of_each_sizing_its_pools_to_the_machine(monkeypatch, torch_threads):
    from harness.pytest_plugin import THREAD_VARIABLES, share_cores_between_workers

    monkeypatch.setattr("harness.pytest_plugin.usable_cores", lambda: 8)
    for var in THREAD_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "4")
    share_cores_between_workers()
    import os

    assert [os.environ[var] for var in THREAD_VARIABLES] == ["2"] * len(THREAD_VARIABLES)
    assert torch_threads.get_num_threads() == 2  # torch was imported first: its pool is resized too


def test_usable_cores_are_the_ones_this_process_may_run_on_not_the_hosts():
    import os
    import shutil
    import subprocess
    import sys

    if not hasattr(os, "sched_getaffinity") or shutil.which("taskset") is None:
        pytest.skip("needs Linux's CPU affinity and taskset")
    pinned = subprocess.run(["taskset", "-c", "0", sys.executable, "-c",
                             "from harness.pytest_plugin import usable_cores; print(usable_cores())"],
                            capture_output=True, text=True, check=True)
    assert pinned.stdout.strip() == "1"  # a container or taskset limit, though the host has more


@pytest.mark.parametrize(("workers", "user_set"), [("1", None), ("", None), ("two", None), ("-4", None),
                                                 ("4", "OMP_NUM_THREADS")])
def test_thread_pools_are_left_alone_in_one_process_or_when_the_user_sized_them(monkeypatch, workers, user_set):
    """(A worker count that is not a number, set by hand, is one process: never a crash at startup.)"""
    from harness.pytest_plugin import THREAD_VARIABLES, share_cores_between_workers

    for var in THREAD_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    if user_set:
        monkeypatch.setenv(user_set, "3")
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", workers)
    share_cores_between_workers()
    import os

    assert {var: os.environ.get(var) for var in THREAD_VARIABLES} == {
        var: "3" if var == user_set else None for var in THREAD_VARIABLES}


def test_command_line_options_set_what_a_test_leaves_out(pytester):
    pytester.makepyfile(f"""
        from harness import api

        MODEL = api.load({EXAMPLE!r} + ":describe_model")

        def test_left_to_the_job(harness_parity, harness_export):
            report = harness_parity(MODEL)
            assert [r.label for r in report.runs] == ["torch@fp32", "onnxruntime@fp32"]
            assert report.inputs.count == 24 and report.inputs.seed == 7
            assert {{c.policy.name for c in report.comparisons}} == {{"fp32(atol=0.0001)"}}
            assert report.target == "iOS17"  # read back from the exported programs
            assert harness_export(MODEL).parent.name.endswith("-iOS17")  # each target its own cached export

        def test_its_own_choice_wins(harness_parity):
            report = harness_parity(MODEL, "torch,coreml-emulated@fp32", n=8, seed=1, atol={{"fp32": 2e-4}},
                                    target="ios17")
            assert [r.label for r in report.runs] == ["torch@fp32", "coreml-emulated@fp32[fp32]"]
            assert report.inputs.count == 8 and report.inputs.seed == 1
            assert {{c.policy.name for c in report.comparisons}} == {{"fp32(atol=0.0002)"}}
            assert report.target == "iOS17"
    """)
    result = pytester.runpytest("--harness-backends", "torch,onnxruntime", "--harness-n", "24", "--harness-seed", "7",
                                "--harness-policy", "fp32", "--harness-atol", "fp32=1e-4", "--harness-target", "ios17")
    result.assert_outcomes(passed=2)


def test_the_artifacts_option_moves_the_export_cache(pytester, tmp_path):
    pytester.makepyfile(f"""
        from harness import api

        def test_exports_there(harness_export):
            assert harness_export(api.load({EXAMPLE!r} + ":describe_model")).is_relative_to({str(tmp_path)!r})
    """)
    pytester.runpytest("-p", "no:cacheprovider", "--harness-artifacts", str(tmp_path / "cache")).assert_outcomes(
        passed=1)
    assert (tmp_path / "cache").is_dir()


@pytest.mark.parametrize(("option", "value", "says"), [
    ("--harness-backends", "tflite", "unknown backend 'tflite'"),
    ("--harness-n", "0", "the number of cases must be between 1"),
    ("--harness-policy", "fp64", "invalid choice: 'fp64'"),
    ("--harness-atol", "fp32", "atol is policy=value"),
    ("--harness-target", "iOS14", "unknown deployment target 'iOS14'"),
    ("--harness-cluster", "local:0", "the worker processes of the cluster local:W must be between 1 and 256"),
])
def test_a_bad_option_stops_the_run_before_any_test(pytester, option, value, says):
    pytester.makepyfile("def test_never_runs():\n    raise AssertionError\n")
    result = pytester.runpytest("-p", "no:cacheprovider", option, value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{option}*{says}*"])


def test_explain_judges_a_pair_by_its_class_in_a_users_suite(pytester):
    """An ONNX export that scales the outputs by 1 + 1e-5 passes the fp32 policy's atol; set against float64 it is
    beyond fp32 precision. `parity --explain` and `api.parity(explain=True)` FAIL it; the plugin had no way to ask,
    so a suite's test passed a conversion the command line fails. `explain=True`, or `--harness-explain`."""
    pytester.makepyfile("""
        import numpy as np
        import torch
        from harness import api

        class Nudged(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.body = torch.nn.Linear(6, 4)

            def forward(self, x):
                return self.body(x) * (1.00001 if torch.onnx.is_in_onnx_export() else 1.0)

        MODEL = api.describe("nudged", lambda: api.seeded(Nudged), inputs={"x": (None, 6)},
                             outputs={"y": (None, 4)}, decision="argmax")

        def test_by_policy(harness_parity):
            report = harness_parity(MODEL, "torch,onnxruntime", n=32)
            assert not report.precision  # a passing pair is not classified unless asked

        def test_explained(harness_parity):
            harness_parity(MODEL, "torch,onnxruntime", n=32, explain=True)
    """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*test_explained*", "*BEYOND fp32 precision*"])
    again = pytester.runpytest("-p", "no:cacheprovider", "--harness-explain", "-k", "test_by_policy")
    again.assert_outcomes(failed=1)  # the option explains every call that does not say otherwise
