"""The CLI: exit codes, the table, the JSON report."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness.backends.coreml import CoreMLBackend
from harness.cli import main


def test_unknown_model_exits_2_listing_known_models(capsys):
    assert main(["parity", "--model", "nope"]) == 2
    assert "known models: trendsplit" in capsys.readouterr().err


def test_unknown_backend_exits_2_listing_known_backends(capsys, trendsplit_export):
    _, folder = trendsplit_export
    assert main(["parity", "--backends", "tflite", "--artifacts", str(folder)]) == 2
    assert "known backends: torch" in capsys.readouterr().err


def test_parity_prints_the_table_and_writes_json(capsys, trendsplit_export, tmp_path):
    _, folder = trendsplit_export
    out = tmp_path / "report.json"
    code = main(["parity", "--backends", "torch,onnxruntime", "--n", "100", "--seed", "3",
                 "--artifacts", str(folder), "--json", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "onnxruntime@fp32 vs torch@fp32" in text and "PASSED" in text
    assert json.loads(out.read_text())["comparisons"][0]["candidate"] == "onnxruntime@fp32"


def test_parity_with_nothing_runnable_exits_1(capsys, trendsplit_export):
    _, folder = trendsplit_export
    if not CoreMLBackend.unavailable_reason():
        return
    assert main(["parity", "--backends", "coreml", "--n", "5", "--artifacts", str(folder)]) == 1
    assert "needs macOS" in capsys.readouterr().out


def test_export_writes_artifacts_and_manifest(capsys, tmp_path):
    assert main(["export", "--out", str(tmp_path / "e")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.endswith("manifest.json") for line in lines)
    assert json.loads((tmp_path / "e" / "manifest.json").read_text())["model"] == "trendsplit"


def test_python_dash_m_usage_error_exits_2_before_importing_torch():
    # -v lists every module imported: a usage error or --help answers before torch loads
    proc = subprocess.run([sys.executable, "-v", "-m", "harness", "parity", "--n", "x"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "must be a whole number" in proc.stderr
    assert "import 'torch'" not in proc.stderr and "import 'harness.cli'" in proc.stderr


def test_help_names_every_model_and_the_default(capsys):
    from harness.models import default_model, registered
    from harness.zoo import ZOO

    with pytest.raises(SystemExit) as done:
        main(["export", "--help"])
    assert done.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())  # argparse wraps lines, sometimes at a hyphen
    names = [*registered(), *ZOO]
    assert all(name in shown.replace("- ", "-") for name in names), shown
    assert f"default {default_model()}" in shown


def test_without_a_default_model_a_command_asks_for_one(monkeypatch, capsys):
    monkeypatch.setattr("harness.models.default_model", lambda: None)
    assert main(["export"]) == 2
    assert "name a model with --model" in capsys.readouterr().err


def test_run_then_compare_then_report_from_the_saved_files(capsys, trendsplit_export, tmp_path):
    _, folder = trendsplit_export
    run_dir, comparison, page = tmp_path / "run", tmp_path / "c.json", tmp_path / "r.html"
    assert main(["run", "--backends", "torch,onnxruntime", "--n", "30", "--seed", "2", "--artifacts", str(folder),
                 "--out", str(run_dir)]) == 0
    ran = capsys.readouterr().out
    assert "torch_fp32.json  torch@fp32  ran in" in ran and "cases.json  30 cases, seed 2" in ran
    assert main(["compare", str(run_dir), "--json", str(comparison)]) == 0
    compared = capsys.readouterr().out
    assert "onnxruntime@fp32 vs torch@fp32" in compared and compared.rstrip().splitlines()[-1].startswith("PASSED: ")
    assert main(["report", str(comparison), "--html", str(page)]) == 0
    assert capsys.readouterr().out == compared  # the same table, from the saved comparison alone
    assert "Parity report: trendsplit" in page.read_text()


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
