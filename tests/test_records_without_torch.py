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
    from harness.parity import steps

    done = runs.run()
    saved = steps.compare(done.cases, done.results).write(tmp_path / "comparison.json")
    code = WITHOUT + f"""
from harness.parity.verdict import ParityReport
from harness.report.text import format_report
print(format_report(ParityReport.read({str(saved)!r})).splitlines()[-1])
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(("PASSED", "FAILED", "INCONCLUSIVE"))


def test_compare_of_saved_files_runs_with_numpy_alone(tmp_path):
    """`python -m harness compare` of a run folder, judged and printed where torch cannot be imported
    (claims checked by name, no model to re-measure): the verdict equals the one judged with torch."""
    from harness.parity import judge

    folder = runs.write(tmp_path / "run")
    with_torch = judge.compare(*_read(judge, folder))
    code = WITHOUT + f"""
import sys
from harness.cli import main
sys.exit(main(["compare", {str(folder)!r}, "--json", {str(tmp_path / 'judged.json')!r}]))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode in (0, 1), done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[-1].startswith(with_torch.status)
    from harness.parity.verdict import ParityReport

    alone = ParityReport.read(tmp_path / "judged.json")
    assert alone.status == with_torch.status
    assert [c.to_dict() for c in alone.comparisons] == [c.to_dict() for c in with_torch.comparisons]


def _read(judge, folder):
    done = judge.read_results([folder])
    return done.cases, done.results


def _numpy_alone(tmp_path: Path) -> Path:
    """A folder holding numpy alone (links to this environment's copy): with `python -S`, which reads no
    site-packages, the interpreter sees the standard library, numpy and the harness's source, nothing else."""
    import numpy

    alone = tmp_path / "numpy-alone"
    alone.mkdir()
    installed = Path(numpy.__file__).parent
    for part in (installed, installed.with_name("numpy.libs")):
        if part.exists():
            (alone / part.name).symlink_to(part)
    return alone


def test_saved_results_are_compared_where_only_numpy_is_installed(tmp_path):
    """The done-when of the package split: `import harness.results, harness.report` and `python -m harness
    compare` of a run folder where the standard library and numpy are all there is (no torch, tqdm,
    matplotlib, onnx or coremltools); `--html`, which needs matplotlib, is refused in one line, before the
    JSON is written."""
    folder = runs.write(tmp_path / "run")
    alone = _numpy_alone(tmp_path)
    prelude = f"import sys; sys.path[:0] = [{str(alone)!r}, {str(ROOT)!r}]\n"
    seen = subprocess.run([sys.executable, "-S", "-c", prelude + "import tqdm"], capture_output=True, text=True)
    assert seen.returncode != 0, "the check can fail: tqdm must not be importable here"
    code = prelude + f"""
import harness.results, harness.report
from harness.cli import main
sys.exit(main(["compare", {str(folder)!r}, "--json", "judged.json"] + sys.argv[1:]))
"""
    done = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith("PASSED"), done.stdout
    assert (tmp_path / "judged.json").is_file()
    (tmp_path / "judged.json").unlink()
    refused = subprocess.run([sys.executable, "-S", "-c", code, "--html", "page.html"], capture_output=True,
                             text=True, cwd=tmp_path, timeout=120)
    assert refused.returncode == 2 and "matplotlib" in refused.stderr and "Traceback" not in refused.stderr
    assert not (tmp_path / "judged.json").exists() and not (tmp_path / "page.html").exists()
