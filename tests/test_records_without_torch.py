"""The results format travels from a phone to any machine: reading it needs numpy alone.

Run in a fresh interpreter where torch, coremltools, onnxruntime and onnx cannot be imported
(a finder refuses them, as a machine without them would), a results file and its cases are read.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests import runs

ROOT = Path(__file__).resolve().parents[1]

WITHOUT = """
import sys
from importlib.abc import MetaPathFinder

class NotInstalled(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"torch", "coremltools", "onnxruntime", "onnx", "onnxscript", "torchvision"}:
            raise ModuleNotFoundError(f"No module named {name!r} (not installed here)")
        return None

sys.meta_path.insert(0, NotInstalled())
"""


def test_a_results_file_and_its_cases_are_read_with_numpy_alone(tmp_path):
    folder = runs.write(tmp_path / "run")
    code = WITHOUT + f"""
from harness.results import CaseFile, Results
cases = CaseFile.read({str(folder / 'cases.json')!r})
results = Results.read({str(folder / 'torch_fp32.json')!r}, cases.results_limit())
print(len(cases.cases), results.backend, sorted(results.outputs))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["6", "torch@fp32", "['p',", "'score']"]


def test_the_finder_does_refuse_torch():
    """The check can fail: with the finder in place, importing torch is an error."""
    done = subprocess.run([sys.executable, "-c", WITHOUT + "import torch"], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode != 0 and "not installed here" in done.stderr


def test_a_saved_comparison_is_read_and_shown_with_numpy_alone(tmp_path):
    from harness import pipeline

    done = runs.run()
    saved = pipeline.compare(done.cases, done.results).write(tmp_path / "comparison.json")
    code = WITHOUT + f"""
from harness.parity import ParityReport
from harness.report import format_report
print(format_report(ParityReport.read({str(saved)!r})).splitlines()[-1])
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(("PASSED", "FAILED", "INCONCLUSIVE"))
