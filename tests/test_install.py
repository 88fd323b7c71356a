"""A user's project installs the harness alone; the kit comes with its extra, and the main job needs nothing more.

Each environment holds exactly what `pip install '<requirement>'` installs (tests/environments.py), so a
module that imports something its distribution does not declare fails here as it would for a user.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.environments import installed_as
from tests.user_model import tiny_vision

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="links into site-packages")


@pytest.fixture(scope="module")
def harness_alone(tmp_path_factory) -> Path:
    return installed_as(tmp_path_factory.mktemp("alone") / "venv", "trendsplit-harness")


@pytest.fixture(scope="module")
def with_the_kit(tmp_path_factory) -> Path:
    return installed_as(tmp_path_factory.mktemp("kit") / "venv", "trendsplit-harness[kit]")


def run(python: Path, *argv: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), *argv], capture_output=True, text=True, cwd=cwd)


def test_the_harness_alone_has_none_of_the_kits_libraries(harness_alone, tmp_path):
    for module in ("ruptures", "hypothesis", "pytest"):
        assert run(harness_alone, "-c", f"import {module}", cwd=tmp_path).returncode == 1
    assert run(harness_alone, "-c", "import harness.api, harness.cli, harness.report.html",
               cwd=tmp_path).returncode == 0


@pytest.mark.parametrize("argv", [["-m", "trendsplit", "fixtures", "check"], ["-m", "trendsplit", "evaluate"],
                                  ["-m", "trendsplit.train", "--epochs", "1"]])
def test_a_kit_command_without_the_extra_says_which_extra_in_one_line(harness_alone, tmp_path, argv):
    proc = run(harness_alone, *argv, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    prog = "python -m trendsplit.train" if argv[1] == "trendsplit.train" else "python -m trendsplit"
    assert proc.stderr.splitlines() == [
        f"{prog}: error: the trendsplit kit needs its extra (hypothesis, ruptures missing): "
        "pip install 'trendsplit-harness[kit]' (from a clone: pip install -e '.[kit]')"]


def test_without_the_kit_no_trendsplit_model_is_offered_nor_a_default(harness_alone, tmp_path):
    listed = run(harness_alone, "-m", "harness", "models", cwd=tmp_path)
    assert listed.returncode == 0
    names = listed.stdout.split()
    assert "zoo-lenet" in names and not {"trendsplit", "trendsplit-gru", "trendsplit-v2", "fp16-stress"} & set(names)
    assert "no installed model provider names a default" in listed.stderr
    asked = run(harness_alone, "-m", "harness", "export", cwd=tmp_path)
    assert asked.returncode == 2
    assert asked.stderr.strip() == ("python -m harness: error: name a model with --model: no installed model "
                                    "provider names a default")


def test_a_kit_model_asked_for_without_the_kit_says_which_extra_in_one_line(harness_alone, tmp_path):
    """docs/executorch.md's `parity --model trendsplit` after installing `.[executorch]` alone said "unknown model
    'trendsplit'; known models: , and the zoo's ...": the model exists, its extra is what is missing."""
    proc = run(harness_alone, "-m", "harness", "parity", "--model", "trendsplit-gru", "--n", "10", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        "python -m harness: error: model 'trendsplit-gru' is the trendsplit kit's, whose extra is not installed "
        "(hypothesis, ruptures missing): pip install 'trendsplit-harness[kit]' (from a clone: pip install -e '.[kit]')"]
    unknown = run(harness_alone, "-m", "harness", "parity", "--model", "nosuch", cwd=tmp_path)
    assert unknown.returncode == 2 and "known models: , " not in unknown.stderr, unknown.stderr


def test_the_harness_alone_checks_a_users_model(harness_alone, tmp_path, shared_export):
    from harness import api

    reference = f"{Path(tiny_vision.__file__)}:describe_model"
    _, folder = shared_export(api.load(reference))
    proc = run(harness_alone, "-m", "harness", "parity", "-q", "--model", reference, "--backends",
               "torch,onnxruntime", "--n", "20", "--artifacts", str(folder), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1].startswith("PASSED")


def test_a_cluster_run_without_the_cluster_extra_says_which_extra_in_one_line(harness_alone, tmp_path):
    assert run(harness_alone, "-c", "import distributed", cwd=tmp_path).returncode == 1
    proc = run(harness_alone, "-m", "harness", "parity", "--model", "zoo-lenet", "--cluster", "local:2", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == ["python -m harness: error: running on a cluster needs Dask: "
                                        "pip install 'trendsplit-harness[cluster]'"]
    assert not (tmp_path / "artifacts").exists()  # said before any work


def test_a_zoo_model_without_the_zoo_extra_says_which_extra_in_one_line(harness_alone, tmp_path):
    """`models` lists the zoo's torchvision nets beside the others; asking for one without torchvision was
    "internal error: ModuleNotFoundError: No module named 'torchvision'", the class of the kit's missing extra."""
    assert run(harness_alone, "-c", "import torchvision", cwd=tmp_path).returncode == 1
    proc = run(harness_alone, "-m", "harness", "parity", "--model", "zoo-resnet18", "--n", "10", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines()[-1] == ("python -m harness: error: model 'zoo-resnet18' needs torchvision: "
                                            "pip install 'trendsplit-harness[zoo]'"), proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and not (tmp_path / "artifacts").exists()  # said before any work


def test_the_main_job_runs_with_the_kit_extra_and_nothing_more(with_the_kit, tmp_path, trendsplit_export):
    _, folder = trendsplit_export
    assert run(with_the_kit, "-c", "import pytest", cwd=tmp_path).returncode == 1  # no test extra
    proc = run(with_the_kit, "-m", "harness", "parity", "-q", "--n", "30", "--artifacts", str(folder), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "model trendsplit: 30 cases" in proc.stdout  # the default model, from the kit
    assert proc.stdout.splitlines()[-1].startswith("PASSED")


def quickstart() -> list[str]:
    """The README's quickstart commands, in order."""
    section = README.read_text().split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return [line.strip() for line in section.splitlines() if line.startswith("    ") and line.strip()]


def test_the_readmes_main_job_installs_the_kit_extra_only_and_the_tests_the_test_extra():
    main_job, tests = [c for c in quickstart() if "python -m harness parity" in c or "python -m pytest" in c]
    assert main_job.endswith(".venv/bin/python -m harness parity")
    assert re.findall(r"pip install -e '(\.\[\w+\])'", main_job) == [".[kit]"]
    assert re.findall(r"pip install -e '(\.\[\w+\])'", tests) == [".[test]"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -q -e '.[test]'" in ci  # CI runs the tests with what they need


def test_the_kit_extra_the_code_reads_is_the_one_pyproject_declares():
    from trendsplit import installed

    declared = sorted(PYPROJECT["project"]["optional-dependencies"]["kit"])
    assert sorted(str(r).split(";")[0].strip() for r in installed.requirements()) == declared
    assert "tqdm>=4.60" in PYPROJECT["project"]["dependencies"]  # the harness's own bars
