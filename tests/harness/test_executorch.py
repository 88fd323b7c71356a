"""ExecuTorch: `.pte` programs exported for real and run by the real ExecuTorch runtime, judged like every backend.

One export per session of the held-out model (`tests/user_model/tiny_vision.py`: two inputs, two outputs, a
convolution), with the three ExecuTorch targets; ops XNNPACK does not take, or ExecuTorch not at all, go through
small modules defined here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from harness import api
from harness.backends import create, parse_backends
from harness.errors import ExportError
from harness.export import EXPORTERS, export_model
from harness.export.manifest import Manifest
from harness.parity import steps
from tests.user_model import tiny_vision

pytest.importorskip("executorch", reason="the executorch extra is not installed (pip install -e '.[executorch]')")

ROOT = Path(__file__).resolve().parents[2]
EXECUTORCH_TARGETS = [t for t in EXPORTERS if t[0].startswith("executorch")]
COREML_PROGRAM = "executorch-coreml-emulated@fp16[fp16-storage]"


@pytest.fixture(scope="session")
def held_out():
    return tiny_vision.describe_model()


@pytest.fixture(scope="session")
def held_out_report(held_out, run_folder):
    """The held-out model through export -> every ExecuTorch variant -> parity against torch (one export for the
    whole run: the xdist workers share its folder, the export's own lock makes one of them export it)."""
    folder = run_folder / "executorch-held-out" / "tiny-vision"
    report = steps.parity(held_out, parse_backends(f"torch,executorch,{COREML_PROGRAM}"), n=200, seed=0,
                             folder=folder)
    return report, folder


def test_a_held_out_model_goes_through_every_executorch_program_with_a_verdict(held_out_report):
    report, folder = held_out_report
    manifest = Manifest.read(folder)
    assert {(a.format, a.precision) for a in manifest.artifacts} >= set(EXECUTORCH_TARGETS)
    assert not manifest.verify(folder)  # every .pte hashed in the manifest, as the other formats
    by = {(c.candidate, c.output): c for c in report.comparisons}
    for output in ("logits", "score"):
        for label in ("executorch@fp32[xnnpack]", "executorch@fp32[portable]"):
            c = by[(label, output)]
            assert c.policy.name == "fp32" and c.verdict == "pass", c
            assert c.max_abs > 0 or c.max_reference > 0.1  # real outputs, not all zeros
        int8 = by[("executorch@int8[xnnpack]", output)]
        assert int8.policy.name == "int8" and not int8.policy.judge_numeric
        # int8 is really quantized: further from torch than fp32 rounding, still near it
        assert 1e-4 < int8.max_abs < 0.5, int8.max_abs
    logits = by[("executorch@int8[xnnpack]", "logits")]
    assert logits.decisions_compared > 50 and logits.verdict == "pass"
    assert report.status == "PASSED"


def test_executorchs_coreml_program_is_extracted_from_its_pte_and_run_by_the_emulation(held_out_report):
    """ExecuTorch's CoreML delegate embeds an mlprogram in the `.pte`: extracted, it runs under the fp16-storage
    profile, judged by the fp16 policy, really in fp16 (further from torch than fp32 rounding) and within it."""
    report, folder = held_out_report
    details = Manifest.read(folder).artifact("executorch-coreml", "fp16").details
    assert details["delegate"] == "coreml" and details["portable_ops"] == []
    by = {(c.candidate, c.output): c for c in report.comparisons}
    for output in ("logits", "score"):
        c = by[(COREML_PROGRAM, output)]
        assert c.policy.name == "fp16" and c.verdict == "pass", c
        assert 1e-5 < c.max_abs < 0.05, c.max_abs


def test_int8_program_holds_the_quantized_graph_and_runs_a_chunk_larger_than_its_batch(held_out, held_out_report):
    """The XNNPACK int8 program's batch capacity is what its planned inputs say (a convolution caps it at 15 in
    ExecuTorch 1.5.1); a chunk of 200 cases runs in calls of that size and equals case-by-case calls."""
    _, folder = held_out_report
    manifest = Manifest.read(folder)
    backend = create("executorch@int8[xnnpack]")
    backend.load(held_out, manifest, folder)
    assert 1 <= backend.max_batch < 200
    details = manifest.artifact("executorch-xnnpack", "int8").details
    assert details["calibration"]["cases"] > 0 and details["delegate"] == "xnnpack"
    feeds = held_out.make_cases(40, 11).feeds
    whole = backend.run(feeds)
    one = [backend.run({k: v[i:i + 1] for k, v in feeds.items()}) for i in range(0, 40, 13)]
    for j, i in enumerate(range(0, 40, 13)):
        np.testing.assert_array_equal(whole["logits"][i], one[j]["logits"][0])


class Angles(nn.Module):
    """atan2: ExecuTorch's portable kernels have it, XNNPACK does not take it."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 6)

    def forward(self, x):
        h = self.fc(x)
        return torch.atan2(h[:, :3], h[:, 3:] + 2.0)


class Unlowerable(nn.Module):
    """erfinv: no ExecuTorch program can hold it (not in the core ATen opset its edge dialect takes)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return torch.special.erfinv(torch.tanh(self.fc(x)) * 0.9)


class Sorted(nn.Module):
    """sort: lowers, but the runtime in this install has no kernel for it."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x).sort(dim=-1).values


class BranchOnValues(nn.Module):
    """A branch on a tensor's values: torch.export cannot trace it (TorchScript's tracer keeps one side)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        h = self.fc(x)
        if h.sum() > 0:
            return h
        return -h


def _small(name, cls, outputs=3):
    return api.describe(name, lambda: api.seeded(cls), inputs={"x": (None, 4)}, outputs={"y": (None, outputs)},
                        decision="none")


def test_an_op_xnnpack_cannot_take_falls_back_to_portable_kernels_and_is_named(tmp_path):
    spec = _small("angles", Angles)
    manifest = export_model(spec, tmp_path / "angles", targets=[("executorch-xnnpack", "fp32")])
    details = manifest.artifact("executorch-xnnpack", "fp32").details
    assert "aten::atan2" in details["portable_ops"] and details["fully_delegated"] is False
    backend = create("executorch@fp32[xnnpack]")
    backend.load(spec, manifest, tmp_path / "angles")
    x = spec.make_cases(50, 0).feeds
    expected = Angles.__call__(api.seeded(Angles), torch.from_numpy(x["x"])).detach().numpy()
    np.testing.assert_allclose(backend.run(x)["y"], expected, atol=1e-5)


class BranchOnBatch(nn.Module):
    """Code that reads the batch size: torch.export cannot keep the batch dynamic, so the program takes batch 1."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        h = self.fc(x)
        return h * 2 if x.shape[0] == 3 else h


class RowsAbove(nn.Module):
    """Boolean indexing: a data-dependent shape inside the model, which ExecuTorch runs on portable kernels."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        h = self.fc(x)
        return h[h.sum(dim=1) > 0].sum(dim=0, keepdim=True) + h


@pytest.mark.parametrize(("cls", "batch"), [(BranchOnBatch, 1), (RowsAbove, None)])
def test_dynamic_shapes_run_as_the_program_allows(tmp_path, cls, batch):
    spec = _small(cls.__name__.lower(), cls)
    manifest = export_model(spec, tmp_path / "out", targets=[("executorch-xnnpack", "fp32")])
    details = manifest.artifact("executorch-xnnpack", "fp32").details
    if batch == 1:
        assert details["max_batch"] == 1 and "x'].size()[0]" in details["batch_fixed"]
    else:
        assert details["max_batch"] > 1 and "aten::index" in details["portable_ops"]
    backend = create("executorch@fp32[xnnpack]")
    backend.load(spec, manifest, tmp_path / "out")
    x = spec.make_cases(5, 0).feeds["x"]  # torch's own answer on these five, as one batch
    expected = api.seeded(cls)(torch.from_numpy(x)).detach().numpy()
    got = backend.run({"x": x})["y"]
    if batch == 1:  # one case a call: the branch for a batch of 3 is never taken, as in an app calling per case
        expected = np.concatenate([api.seeded(cls)(torch.from_numpy(x[i:i + 1])).detach().numpy() for i in range(5)])
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize(("cls", "says"), [
    (Unlowerable, "ExecuTorch cannot convert torch op 'aten::erfinv' in the model's own forward"),
    (Sorted, "ExecuTorch cannot convert torch op 'aten::sort' in the model's own forward "),
    (BranchOnValues, "the model branches on a tensor's values at test_executorch.py:"),
])
def test_an_op_executorch_cannot_run_is_one_line_naming_it(tmp_path, cls, says):
    spec = _small(cls.__name__.lower(), cls, outputs=4)
    with pytest.raises(ExportError) as caught:
        export_model(spec, tmp_path / "out", targets=[("executorch-xnnpack", "fp32")])
    message = str(caught.value)
    assert "\n" not in message and says in message, message
    assert "--backends torch,onnxruntime,coreml,coreml-emulated" in message
    assert not (tmp_path / "out").exists()  # nothing half-written


class Lookup(nn.Module):
    """An embedding: token ids past its table are an error the runtime finds only while running."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 3)

    def forward(self, x):
        return self.embed(x.long()).sum(dim=1)


def test_a_call_the_runtime_refuses_is_one_line_naming_the_cases(tmp_path):
    spec = _small("lookup", Lookup)
    manifest = export_model(spec, tmp_path / "out", targets=[("executorch-portable", "fp32")])
    backend = create("executorch@fp32[portable]")
    backend.load(spec, manifest, tmp_path / "out")
    ids = np.arange(8, dtype=np.float32).reshape(2, 4)
    assert backend.run({"x": ids})["y"].shape == (2, 3)
    with pytest.raises(Exception) as caught:
        backend.run({"x": ids + 5})  # 12 is past the table's 10 rows
    message = str(caught.value)
    assert "\n" not in message, message
    assert message.startswith("executorch@fp32[portable] failed on cases 0-1 in operator aten::embedding.out: "
                              "Check failed"), message


def test_the_runtime_refusing_a_program_is_one_line_naming_the_missing_kernel(tmp_path, held_out_report):
    """A program whose kernel the runtime lacks (a `.pte` written by another ExecuTorch, here one edited
    to call `aten::relx.out`, an operator no runtime has, instead of `aten::relu.out`): load says which, in one line."""
    _, folder = held_out_report
    manifest = Manifest.read(folder)
    artifact = manifest.artifact("executorch-portable", "fp32")
    data = (folder / artifact.path).read_bytes()
    assert b"aten::relu" in data
    edited = tmp_path / artifact.path
    edited.write_bytes(data.replace(b"aten::relu", b"aten::relx"))
    backend = create("executorch@fp32[portable]")
    with pytest.raises(Exception) as caught:
        backend.load(tiny_vision.describe_model(), manifest, tmp_path)
    message = str(caught.value)
    assert "\n" not in message and "no kernel for aten::relx.out" in message, message


def _parity_command(model: str, folder: Path, n: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", "parity", "-q", "--model", model, "--backends",
                           "torch,executorch", "--n", str(n), "--artifacts", str(folder)],
                          capture_output=True, text=True, cwd=ROOT)


def _rows(stdout: str) -> dict[str, str]:
    """The table's rows of ExecuTorch pairs: label (and [output]) -> row."""
    return {line.split(" policy")[0].split("  ")[0].replace(" vs torch@fp32", ""): line.rstrip()
            for line in stdout.splitlines() if line.startswith("executorch@") and " vs torch@fp32" in line
            and ": " not in line}


def test_the_command_line_runs_a_held_out_model_through_executorch_in_one_table(held_out_report):
    """`parity --backends torch,executorch` in a process of its own, on the session's export (reused, not redone)."""
    _, folder = held_out_report
    proc = _parity_command(f"{ROOT / 'tests/user_model/tiny_vision.py'}:describe_model", folder, 200)
    rows = _rows(proc.stdout)
    assert set(rows) == {f"{label} [{output}]" for label in ("executorch@fp32[xnnpack]", "executorch@int8[xnnpack]",
                                                              "executorch@fp32[portable]")
                         for output in ("logits", "score")}, proc.stdout + proc.stderr
    assert all(row.endswith("PASS") for row in rows.values()), proc.stdout
    assert proc.returncode == 0 and proc.stdout.splitlines()[-1].startswith("PASSED")
    assert "re-exporting" not in proc.stderr and "Traceback" not in proc.stderr


def test_an_executorch_device_recording_is_compared_when_it_loaded_the_exports_program(held_out, held_out_report,
                                                                                      tmp_path):
    """An app's recording (results file, label `executorch@int8[xnnpack]`, the `.pte`'s sha256 it measured) is judged
    beside torch; one that loaded another program under the model's name is refused, naming the field."""
    import dataclasses

    from harness.results import ResultsError

    _, folder = held_out_report
    done = steps.run(held_out, parse_backends("torch,executorch@int8[xnnpack]"), n=200, seed=0, folder=folder)
    out = done.write(tmp_path / "run")
    assert done.cases.executorch_programs["xnnpack@int8"] == Manifest.read(folder).artifact(
        "executorch-xnnpack", "int8").sha256
    here = done.results[1]
    assert here.loaded_weights_sha256 == done.cases.executorch_programs["xnnpack@int8"]
    phone = dataclasses.replace(here, provenance={**here.provenance, "device": "iPhone15,2", "os": "iOS 19.1"})
    phone.write(tmp_path / "phone.json")
    run = steps.read_results([out / done.results[0].file_name, tmp_path / "phone.json"], cases=out / "cases.json")
    report = steps.compare(run.cases, run.results, spec=held_out)
    assert {c.policy.name for c in report.comparisons} == {"int8"} and report.status == "PASSED"
    dataclasses.replace(phone, loaded_weights_sha256="0" * 64).write(tmp_path / "other.json")
    run = steps.read_results([out / done.results[0].file_name, tmp_path / "other.json"], cases=out / "cases.json")
    with pytest.raises(ResultsError, match=r"loaded ExecuTorch program 000000000000 \(model.loaded_weights_sha256\), "
                                           r"the export's xnnpack@int8 program is"):
        steps.compare(run.cases, run.results, spec=held_out)


@pytest.mark.swift
def test_the_swift_recorder_sketch_parses_and_type_checks_against_executorchs_api(tmp_path):
    """ExecuTorch's iOS package cannot be built here: the sketch is parsed, then type-checked against the
    declarations of the ExecuTorch names it uses and the real TrendSplitRecorder sources."""
    import shutil

    swiftc = shutil.which("swiftc")
    if swiftc is None:
        pytest.skip("no swiftc on PATH")
    bridge = ROOT / "ios_bridge"
    sketch = bridge / "ExecuTorch" / "ExecuTorchRecorder.swift"
    subprocess.run([swiftc, "-parse", str(sketch)], check=True, capture_output=True)
    modules = [("ExecuTorch", [bridge / "ExecuTorch" / "Declarations" / "ExecuTorch.swift"]),
               ("TrendSplitRecorder", sorted((bridge / "Sources" / "TrendSplitRecorder").glob("*.swift")))]
    for name, sources in modules:
        subprocess.run([swiftc, "-emit-module", "-parse-as-library", "-module-name", name, *map(str, sources),
                        "-emit-module-path", str(tmp_path / f"{name}.swiftmodule")], check=True, capture_output=True)
    proc = subprocess.run([swiftc, "-typecheck", "-I", str(tmp_path), str(sketch)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


class Crossed(nn.Module):
    """Outputs of one shape, the second computed first from the second input; the third is an input as it
    came, the fourth the first again. ExecuTorch's CoreML delegate takes its inputs and gives its outputs in
    its own order (here y before x, `second` before `first`), and holds neither the passed-through input nor
    the repeat: the program around it wires them."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)

    def forward(self, x, y):
        second = torch.tanh(self.b(y))
        first = self.a(x) * 3
        return first, second, y, first


def test_executorchs_coreml_program_is_fed_and_read_as_the_pte_wires_its_delegate(tmp_path):
    """Each of the model's inputs goes to the delegate's input the `.pte` feeds it to, and each output is read
    from where the `.pte` reads it (a delegate's output or a program input): never by position alone, which
    swapped `first` and `second` here and judged a faithful program beyond fp16 precision."""
    spec = api.describe("crossed", lambda: api.seeded(Crossed), inputs={"x": (None, 4), "y": (None, 4)},
                        outputs={"first": (None, 4), "second": (None, 4), "again": (None, 4), "both": (None, 4)},
                        decision="none")
    manifest = export_model(spec, tmp_path / "out", targets=[("executorch-coreml", "fp16")])
    backend = create("executorch-coreml-emulated@fp16[fp32]")
    backend.load(spec, manifest, tmp_path / "out")
    feeds = spec.make_cases(20, 0).feeds
    got = backend.run(feeds)
    with torch.no_grad():
        expected = api.seeded(Crossed)(torch.from_numpy(feeds["x"]), torch.from_numpy(feeds["y"]))
    for name, want in zip(("first", "second", "again", "both"), expected, strict=True):
        np.testing.assert_allclose(got[name], want.numpy(), atol=5e-3, err_msg=name)  # fp16 program, fp32 profile


def test_the_runtime_loads_and_runs_in_a_suite_that_makes_warnings_errors(held_out_report, tmp_path):
    """A user's suite under `-W error` (`filterwarnings = error`): importing ExecuTorch warns (DeprecationWarning,
    ExperimentalWarning), which stopped every ExecuTorch backend as "cannot load ...pte: DeprecationWarning: ..."
    while the CoreML path ran; and the CoreML program extracted from the `.pte` is removed at exit without the
    ResourceWarning tracebacks of an implicitly cleaned temporary folder."""
    _, folder = held_out_report
    code = (f"from harness.backends import create\nfrom harness.export.manifest import Manifest\n"
            f"from tests.user_model import tiny_vision\nfrom pathlib import Path\n"
            f"spec = tiny_vision.describe_model()\nfolder = Path({str(folder)!r})\n"
            f"for name in ('executorch@fp32[xnnpack]', 'executorch@fp32[portable]', "
            f"'executorch-coreml-emulated@fp16[fp16-storage]'):\n"
            f"    backend = create(name)\n    backend.load(spec, Manifest.read(folder), folder)\n"
            f"    print(name, backend.run(spec.make_cases(20, 0).feeds)['logits'].shape)\n")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "TMPDIR": str(scratch)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("(20, 5)") == 3, proc.stdout
    assert "Traceback" not in proc.stderr and "ResourceWarning" not in proc.stderr, proc.stderr[-3000:]
    assert not [p for p in scratch.iterdir() if p.name.startswith("harness-pte-")]
