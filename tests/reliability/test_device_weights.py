"""A results file says which weights ran, measured, and compare checks it against the export.

The Swift recorder copied the fixture's `weights_sha256` into every file it wrote, so a phone running
other weights under the same name passed the weights check. Now it measures the model it loads
(`ModelWeights.sha256`, defined as `harness.mlpackage.weights_sha256`) and `compare` refuses a file
whose loaded weights are not the export's at its precision.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.backends import parse_backends
from harness.mlpackage import PackageError, weights_sha256
from harness.parity import steps
from harness.results import Results

ROOT = Path(__file__).resolve().parents[2]
EXPORTED = ROOT / "fixtures" / "exported"


def test_the_python_side_still_computes_the_hash_the_swift_tests_check():
    recorded = json.loads((EXPORTED / "weights.json").read_text())["packages"]
    assert recorded
    for name, entry in recorded.items():
        assert weights_sha256(EXPORTED / name) == entry["weights_sha256"], name


def test_the_hash_is_the_documented_one(tmp_path):
    package = shutil.copytree(EXPORTED / "tiny-fp32.mlpackage", tmp_path / "p.mlpackage")
    weights = package / "Data" / "com.apple.CoreML" / "weights"
    (weights / "sub").mkdir()
    (weights / "sub" / "extra.bin").write_bytes(b"\x00\x01")
    lines = "".join(f"{rel} {hashlib.sha256((weights / rel).read_bytes()).hexdigest()}\n"
                    for rel in ("sub/extra.bin", "weight.bin"))
    assert weights_sha256(package) == hashlib.sha256(lines.encode()).hexdigest()


def test_a_symlink_among_the_weights_is_refused(tmp_path):
    package = shutil.copytree(EXPORTED / "tiny-fp32.mlpackage", tmp_path / "p.mlpackage")
    (package / "Data" / "com.apple.CoreML" / "weights" / "more.bin").symlink_to(EXPORTED / "weights.json")
    with pytest.raises(PackageError, match="more.bin is not a regular file"):
        weights_sha256(package)


def test_coreml_backends_record_the_weights_they_loaded_and_the_cases_the_exports(trendsplit, trendsplit_export):
    manifest, folder = trendsplit_export
    done = steps.run(trendsplit, parse_backends("torch,coreml-emulated@fp32,coreml-emulated@fp16[fp16]"), n=3,
                        seed=0, folder=folder)
    exported = {a.precision: weights_sha256(folder / a.path) for a in manifest.artifacts if a.format == "coreml"}
    assert done.cases.coreml_weights == exported and exported["fp32"] != exported["fp16"]
    assert [r.loaded_weights_sha256 for r in done.results] == ["", exported["fp32"], exported["fp16"]]


# -- files the Swift recorder wrote ----------------------------------------------------------------

@pytest.fixture(scope="module")
def reference_run(trendsplit, trendsplit_export, tmp_path_factory) -> Path:
    """torch on the trendsplit fixture's inputs (24 cases, its seed), saved as `run` saves it."""
    _, folder = trendsplit_export
    fixture = json.loads((ROOT / "fixtures" / "model_trendsplit.json").read_text())
    done = steps.run(trendsplit, parse_backends("torch"), n=len(fixture["cases"]),
                        seed=fixture["provenance"]["generator_seed"], folder=folder)
    return done.write(tmp_path_factory.mktemp("reference"))


def _compare(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", "compare", *map(str, paths)], capture_output=True,
                          text=True, timeout=300)


@pytest.mark.swift
def test_a_device_file_of_the_exported_weights_is_compared(swift_recorder, trendsplit_export, reference_run,
                                                           tmp_path):
    manifest, folder = trendsplit_export
    package = folder / manifest.artifact("coreml", "fp32").path
    phone = swift_recorder(package, "fp32", tmp_path / "phone.json")
    assert Results.read(phone).loaded_weights_sha256 == weights_sha256(package)
    proc = _compare(reference_run, phone)
    assert proc.returncode == 0 and "coreml@fp32[CPU_ONLY] vs torch@fp32" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.swift
@pytest.mark.parametrize("ran", ["the fp16 export", "another model"])
def test_a_device_that_ran_other_weights_under_the_name_is_refused(swift_recorder, trendsplit_export, reference_run,
                                                                   tmp_path, ran):
    """It claims the fixture's weights (fp32); the weights it loaded say otherwise: exit 2, naming the field."""
    manifest, folder = trendsplit_export
    package = (folder / manifest.artifact("coreml", "fp16").path if ran == "the fp16 export"
               else EXPORTED / "tiny-fp32.mlpackage")
    phone = swift_recorder(package, "fp32", tmp_path / "phone.json")
    claimed = Results.read(phone)
    assert claimed.weights_sha256 == json.loads(
        (ROOT / "fixtures" / "model_trendsplit.json").read_text())["provenance"]["weights_sha256"]
    proc = _compare(reference_run, phone)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert "model.loaded_weights_sha256" in line and "another model under this name" in line
