"""The CLI: exit codes, the table, the JSON report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.backends.coreml import CoreMLBackend
from harness.cli import main
from tests.user_model import series

#: A user's model by its file, as a user names it on the command line.
MODEL = ["--model", f"{series.__file__}:describe_model"]


def test_unknown_model_exits_2_listing_known_models(capsys):
    from harness.models import registered

    assert main(["parity", "--model", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'nope'; known models: " in err and all(name in err for name in registered())


def test_unknown_backend_exits_2_listing_known_backends(capsys):
    with pytest.raises(SystemExit) as done:  # one of --backends' declared choices, checked while parsing
        main(["parity", "--backends", "tflite"])
    assert done.value.code == 2
    assert "known backends: torch, onnxruntime, coreml[@fp32|fp16]" in capsys.readouterr().err


def test_parity_prints_the_table_and_writes_json(capsys, series_export, tmp_path):
    _, folder = series_export
    out = tmp_path / "report.json"
    code = main(["parity", *MODEL, "--backends", "torch,onnxruntime", "--n", "100", "--seed", "3",
                 "--artifacts", str(folder), "--json", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "onnxruntime@fp32 vs torch@fp32" in text and "PASSED" in text
    assert json.loads(out.read_text())["comparisons"][0]["candidate"] == "onnxruntime@fp32"


def test_parity_with_nothing_runnable_exits_1(capsys, series_export):
    _, folder = series_export
    if not CoreMLBackend.unavailable_reason():
        return
    assert main(["parity", *MODEL, "--backends", "coreml", "--n", "5", "--artifacts", str(folder)]) == 1
    assert "needs macOS" in capsys.readouterr().out


def test_export_writes_artifacts_and_manifest(capsys, tmp_path):
    assert main(["export", *MODEL, "--out", str(tmp_path / "e")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.endswith("manifest.json") for line in lines)
    assert json.loads((tmp_path / "e" / "manifest.json").read_text())["model"] == "series"


def test_python_dash_m_usage_error_exits_2_before_importing_torch():
    # -v lists every module imported: a usage error or --help answers before torch loads
    proc = subprocess.run([sys.executable, "-v", "-m", "harness", "parity", "--n", "x"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "must be a whole number" in proc.stderr
    assert "import 'torch'" not in proc.stderr and "import 'harness.cli'" in proc.stderr


def test_models_lists_every_model_and_the_default(capsys):
    from harness.models import default_model, registered
    from harness.zoo import ZOO

    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [*registered(), *ZOO]
    assert f"{default_model()}  (default)" in lines


def test_without_a_default_model_a_command_asks_for_one(monkeypatch, capsys):
    monkeypatch.setattr("harness.models.default_model", lambda: None)
    assert main(["export"]) == 2
    assert "name a model with --model" in capsys.readouterr().err


def test_run_then_compare_then_report_from_the_saved_files(capsys, series_export, tmp_path):
    _, folder = series_export
    run_dir, comparison, page = tmp_path / "run", tmp_path / "c.json", tmp_path / "r.html"
    assert main(["run", *MODEL, "--backends", "torch,onnxruntime", "--n", "30", "--seed", "2",
                 "--artifacts", str(folder), "--out", str(run_dir)]) == 0
    ran = capsys.readouterr().out
    assert "torch_fp32.json  torch@fp32  ran in" in ran and "cases.json  30 cases, seed 2" in ran
    assert main(["compare", str(run_dir), "--json", str(comparison)]) == 0
    compared = capsys.readouterr().out
    assert "onnxruntime@fp32 vs torch@fp32" in compared and compared.rstrip().splitlines()[-1].startswith("PASSED: ")
    assert main(["report", str(comparison), "--html", str(page)]) == 0
    assert capsys.readouterr().out == compared  # the same table, from the saved comparison alone
    assert "Parity report: series" in page.read_text()


def test_compare_names_a_malformed_results_file_and_exits_2(capsys, tmp_path):
    from tests import runs

    runs.write(tmp_path)  # a cases.json beside the file
    bad = tmp_path / "phone.json"
    bad.write_text('{"format": "trendsplit-harness/results", "version": 7}')
    assert main(["compare", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "phone.json is trendsplit-harness/results version 7" in err[0]


def test_report_of_a_saved_comparison_refuses_one_shot_options(capsys, tmp_path):
    assert main(["report", str(tmp_path / "c.json"), "--n", "5"]) == 2
    assert "--n belong to the one-shot form" in capsys.readouterr().err


# -- conventions (issue #25, item 6) ---------------------------------------------------------------

BIN = Path(sys.executable).parent
HARNESS_COMMANDS = ["models", "policies", "export", "parity", "run", "compare", "report", "localize"]
KIT_COMMANDS = ["fixtures", "evaluate", "threshold", "bench", "swift-fuzz"]


@pytest.mark.parametrize("module", ["harness", "trendsplit"])
def test_version_is_the_installed_distributions(module, capsys):
    from importlib import import_module, metadata

    with pytest.raises(SystemExit) as done:
        import_module(f"{module}.cli").main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"python -m {module} {metadata.version('trendsplit-harness')}\n"


@pytest.mark.parametrize("script", ["trendsplit-harness", "trendsplit"])
def test_a_console_script_names_itself_in_usage_lines(script):
    proc = subprocess.run([str(BIN / script), "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert proc.stdout.startswith(f"usage: {script} ")
    proc = subprocess.run([str(BIN / script), "--no-such-option"], capture_output=True, text=True)
    assert proc.returncode == 2 and f"\n{script}: error: " in proc.stderr


@pytest.mark.parametrize(("module", "command"), [("harness", c) for c in HARNESS_COMMANDS]
                         + [("trendsplit", c) for c in KIT_COMMANDS])
def test_every_subcommands_help_answers_without_importing_torch(module, command):
    proc = subprocess.run([sys.executable, "-v", "-m", module, command, "--help"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-500:]
    assert proc.stdout.startswith(f"usage: python -m {module} {command}")
    assert "import 'torch'" not in proc.stderr and "import 'numpy'" not in proc.stderr


def test_the_backend_choices_are_the_registrys():
    from harness.backend_names import BACKENDS as NAMES
    from harness.backend_names import DEFAULT
    from harness.backends import BACKENDS, default_backends
    from harness.backends.executorch import ExecuTorchBackend
    from harness.compute_units import COMPUTE_UNITS
    from harness.mil.profiles import PROFILES

    options = {"compute_units": COMPUTE_UNITS, "profile": tuple(PROFILES), "delegate": ExecuTorchBackend.delegates,
               None: ()}
    assert {name: (cls.precisions, options[cls.option]) for name, cls in BACKENDS.items()} == NAMES
    assert list(dict.fromkeys(b.name for b in default_backends())) == list(DEFAULT)


@pytest.mark.parametrize(("given", "says"), [
    ("torch,tflite", "unknown backend 'tflite'; known backends: torch, onnxruntime, coreml[@fp32|fp16]"),
    ("onnxruntime@fp16", "backend 'onnxruntime' has no precision 'fp16'; it has: fp32"),
    ("torch[CPU_ONLY]", "backend 'torch' takes no [option]"),
    ("coreml@fp16[GPU]", "backend 'coreml' has no option 'GPU'; it takes: CPU_ONLY, CPU_AND_GPU, CPU_AND_NE, ALL"),
    ("coreml-emulated@fp16[bf16]", "backend 'coreml-emulated' has no option 'bf16'"),
    ("torch@", "cannot read backend reference 'torch@'"),
    (",", "no backend named"),
])
def test_backends_are_checked_while_parsing_before_torch_loads(given, says):
    proc = subprocess.run([sys.executable, "-v", "-m", "harness", "parity", "--backends", given],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert f"python -m harness parity: error: argument --backends: {says}" in proc.stderr
    assert "import 'torch'" not in proc.stderr


def test_quiet_keeps_progress_off_stderr_and_works_before_or_after_the_command(capsys, series_export):
    _, folder = series_export
    argv = [*MODEL, "--backends", "torch,onnxruntime", "--n", "20", "--artifacts", str(folder)]
    assert main(["parity", *argv]) == 0
    assert "[harness] running torch@fp32 on 20 cases" in capsys.readouterr().err
    for quiet in (["parity", "-q", *argv], ["-q", "parity", *argv], ["parity", "--quiet", *argv]):
        assert main(quiet) == 0
        out, err = capsys.readouterr()
        assert err == "" and out.splitlines()[-1].startswith("PASSED")


def test_verbose_shows_the_traceback_of_an_internal_error(tmp_path, monkeypatch, capsys):
    from harness.parity import steps

    def bug(*args, **kwargs):
        raise KeyError("a bug of ours")

    monkeypatch.setattr(steps, "parity", bug)
    monkeypatch.delenv("HARNESS_DEBUG", raising=False)
    argv = ["parity", "--backends", "torch", "--n", "1", "--artifacts", str(tmp_path / "a")]
    assert main(argv) == 1
    with pytest.raises(KeyError, match="a bug of ours"):
        main([*argv, "-v"])


def test_tolerance_overrides_judge_and_are_named_in_the_table(capsys, series_export):
    _, folder = series_export
    argv = ["parity", "-q", *MODEL, "--backends", "torch,onnxruntime", "--n", "50", "--artifacts", str(folder)]
    assert main(argv) == 0
    capsys.readouterr()
    assert main([*argv, "--atol", "fp32=1e-12", "--rtol", "fp32=0"]) == 1  # torch and onnxruntime differ by ~1e-5
    out = capsys.readouterr().out
    assert "fp32(atol=1e-12,rtol=0)" in out and "FAIL numeric" in out


@pytest.mark.parametrize(("given", "says"), [
    ("fp64=1e-4", "unknown policy 'fp64'; known policies: fp32, fp16"),
    ("1e-4", "atol is policy=value (e.g. fp32=1e-4"),
    ("fp32=abc", "atol for policy 'fp32' must be a number, got 'abc'"),
    ("fp32=-1", "atol for policy 'fp32' must be a finite number in [0, 1e6], got -1.0"),
    ("fp32=nan", "atol for policy 'fp32' must be a finite number in [0, 1e6], got nan"),
])
def test_a_bad_tolerance_override_is_one_line_and_exit_2(given, says, capsys):
    with pytest.raises(SystemExit) as done:
        main(["parity", "--atol", given])
    assert done.value.code == 2
    assert f"error: argument --atol: {says}" in capsys.readouterr().err


def test_policies_prints_the_readmes_table_and_each_reasoning(capsys):
    from harness.parity.tolerances import POLICIES, table

    assert main(["policies"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(table() + "\n")
    assert all(f"\n{p.name}: {p.reason}\n" in out for p in POLICIES.values())


def test_a_tolerance_flag_given_twice_keeps_both_policies(capsys, series_export):
    _, folder = series_export
    assert main(["parity", "-q", *MODEL, "--backends", "torch,onnxruntime,coreml-emulated@fp16[fp16-storage]",
                 "--n", "30", "--artifacts", str(folder), "--atol", "fp32=1e-3", "--atol", "fp16=0.02"]) in (0, 1)
    out = capsys.readouterr().out
    assert "fp32(atol=0.001)" in out and "fp16(atol=0.02)" in out


_WAIT_POLICY = """
import os, sys
from harness.cli import main
loaded = "torch" in sys.modules  # torch's OpenMP reads the policy when torch loads: it must not be loaded yet
main(["policies"])
print(loaded, os.environ["OMP_WAIT_POLICY"])
"""


@pytest.mark.parametrize(("given", "used"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_torchs_threads_are_told_to_sleep_between_calls_unless_the_user_said_otherwise(given, used):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given:
        env["OMP_WAIT_POLICY"] = given
    proc = subprocess.run([sys.executable, "-c", _WAIT_POLICY], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[-2:] == ["False", used]
