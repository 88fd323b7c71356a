"""Results files written by the Swift recorder's own code, replaying the kit's fixture (fixtures/model_trendsplit.json).

About the kit's fixture and its model: moved here from tests/harness/test_results.py, which tests the format
on a user's model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.results import Results, feeds_sha256

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "fixtures" / "model_trendsplit.json"


@pytest.fixture(scope="module")
def swift_recorded(swift_recorder, trendsplit_export, tmp_path_factory) -> Path:
    """The fixture's outputs recorded by Swift as coreml@fp32[CPU_ONLY], weights measured on the fp32 export."""
    manifest, folder = trendsplit_export
    package = folder / manifest.artifact("coreml", "fp32").path
    return swift_recorder(package, "fp32", tmp_path_factory.mktemp("recorded") / "replay.json")


@pytest.mark.swift
def test_a_swift_recorded_file_reads_with_the_fixtures_inputs_and_outputs(swift_recorded):
    fixture = json.loads(FIXTURE.read_text())
    saved = Results.read(swift_recorded)
    bits = np.array([c["input_bits"] for c in fixture["cases"]], dtype=np.uint32)
    assert saved.inputs.sha256 == feeds_sha256({"points": bits.view(np.float32)})  # Python's hash, Swift's bytes
    assert saved.inputs.count == len(fixture["cases"]) and saved.inputs.seed == fixture["provenance"]["generator_seed"]
    expected = np.array([c["output_bits"] for c in fixture["cases"]], dtype=np.uint32)
    assert np.array_equal(saved.outputs["split_probs"].view(np.uint32), expected)
    assert (saved.model, saved.weights_sha256) == ("trendsplit", fixture["provenance"]["weights_sha256"])
    assert saved.backend == "coreml@fp32[CPU_ONLY]" and saved.provenance["os"].startswith("Linux")


@pytest.mark.swift
def test_compare_judges_a_swift_recorded_file_against_a_run_on_the_same_inputs(swift_recorded, trendsplit,
                                                                              trendsplit_export, tmp_path):
    """The seed and count a device file records regenerate its inputs; compare accepts it beside torch."""
    from harness.backends import parse_backends
    from harness.parity import steps

    _, folder = trendsplit_export
    saved = Results.read(swift_recorded)
    done = steps.run(trendsplit, parse_backends("torch,onnxruntime"), n=saved.inputs.count,
                        seed=saved.inputs.seed, folder=folder)
    done.write(tmp_path / "run")
    again = steps.read_results([tmp_path / "run", swift_recorded])
    report = steps.compare(again.cases, again.results)
    replay = next(c for c in report.comparisons if c.candidate == "coreml@fp32[CPU_ONLY]")
    assert replay and replay.policy.name == "fp32"  # the fixture's torch numbers, replayed: within fp32
    assert [r.label for r in report.runs] == ["torch@fp32", "onnxruntime@fp32", "coreml@fp32[CPU_ONLY]"]
