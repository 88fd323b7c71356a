"""What the project calls deterministic is the same on other machines (simulated: tests/machines.py).

Each simulated machine regenerates the fixtures into a copy of the committed ones and must write
the committed bytes, makes the seeded cases and weights with the same sha256 as this machine as it
is, and passes `fixtures check`; each must also compute some float kernel differently from this
machine (else it simulated nothing). docs/determinism.md lists what varies and how it is handled.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from harness import atomic
from tests.machines import MACHINES, Machine, numpy_features, run
from trendsplit import fixtures

AS_IS = Machine("this-machine")


@pytest.fixture(scope="session")
def measured(run_folder) -> Callable[[Machine], tuple[dict, Path]]:
    """`measured(machine) -> (what tests/machine_probe.py printed, the fixtures it regenerated)`.

    One subprocess per machine per run, whichever xdist worker asks first (the others wait for it). This
    machine's fixtures are the committed ones: it measures its seeded values and kernels only.
    """
    root = run_folder / "simulated-machines"

    def measure(machine: Machine) -> tuple[dict, Path]:
        folder = root / machine.name
        folder.mkdir(parents=True, exist_ok=True)
        result, copy = folder / "probe.json", folder / "fixtures"
        with atomic.folder_lock(result):
            if not result.exists():
                shutil.rmtree(copy, ignore_errors=True)
                if machine == AS_IS:
                    done = run(machine, "-m", "tests.machine_probe")
                else:
                    shutil.copytree(fixtures.FIXTURES, copy)
                    done = run(machine, "-m", "tests.machine_probe", str(copy))
                assert done.returncode == 0, f"{machine}: {done.stderr[-3000:]}"
                result.write_text(done.stdout)
        return json.loads(result.read_text()), copy

    return measure


def _another(machine: Machine, measured) -> dict:
    """What `machine` measured, or a skip when it computed every float kernel as this machine does."""
    here, there = measured(AS_IS)[0], measured(machine)[0]
    if there["kernels"] == here["kernels"]:
        pytest.skip(f"this CPU cannot stand in for {machine}: every float kernel gave the same bits")
    return there


@pytest.mark.parametrize("machine", MACHINES, ids=str)
def test_another_machine_regenerates_the_committed_fixtures_and_seeded_values(machine, measured):
    there = _another(machine, measured)
    here, copy = measured(AS_IS)[0], measured(machine)[1]
    differ = ", ".join(k for k in here["kernels"] if there["kernels"][k] != here["kernels"][k])
    for committed in sorted(fixtures.FIXTURES.glob("*.json")):
        assert (copy / committed.name).read_bytes() == committed.read_bytes(), \
            f"{machine} ({differ} differ) regenerated {committed.name} differently"
    assert there["seeded"] == here["seeded"], [k for k in here["seeded"] if there["seeded"][k] != here["seeded"][k]]


@pytest.mark.parametrize("machine", MACHINES, ids=str)
def test_fixtures_check_passes_on_another_machine(machine, measured):
    check = _another(machine, measured)["check"]
    assert check["exit"] == 0, check["output"]
    from trendsplit import fixtures

    committed = len(list(fixtures.FIXTURES.glob("*.json")))  # every committed fixture checked there too
    assert check["output"].strip().endswith(f"fixtures match the code ({committed} files)")


@pytest.mark.skipif(not numpy_features("AVX512F"), reason="the old drift shows where numpy has AVX-512 kernels to "
                                                          "turn off; this CPU has none")
def test_the_old_wild_values_drift_on_a_machine_without_avx512(measured):
    """Issue #25's drift, reproduced here: `normal * 10.0 ** k` went through numpy's AVX-512 `pow`. (The
    exact draws that replaced it regenerate the same bytes there: the first test.)"""
    machine = next(m for m in MACHINES if m.name == "no-avx512")
    assert measured(machine)[0]["old_wild"] != measured(AS_IS)[0]["old_wild"]


#: An int8 ExecuTorch program of a small conv net, exported in a process of its own: its sha256.
_INT8_PROGRAM = """
import hashlib, sys, tempfile, warnings
from pathlib import Path
from torch import nn
from harness import api
from harness.export.executorch import export_executorch
warnings.simplefilter("ignore")
spec = api.describe("conv-int8", lambda: api.seeded(lambda: nn.Sequential(
    nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))),
    inputs={"x": (None, 3, 8, 8)}, outputs={"y": (None, 2)}, decision="argmax")
with tempfile.TemporaryDirectory() as folder:
    made = export_executorch(spec, spec.build(), Path(folder), "xnnpack", "int8")
    print(hashlib.sha256((Path(folder) / made["path"]).read_bytes()).hexdigest())
"""


@pytest.mark.slow
@pytest.mark.parametrize("machine", MACHINES, ids=str)
def test_another_machine_exports_the_same_int8_executorch_program(machine):
    """The int8 program's scales come from the ranges its calibration observed: activations computed by float
    kernels, so its bytes changed with the CPU (2 of 3 held-out models' on the `avx-no-fma` machine). Measured in
    float64 and put on an exact grid (`harness.calibrate.observed_on_grid`), they are the same everywhere."""
    pytest.importorskip("executorch", reason="the executorch extra is not installed")
    here, there = (run(m, "-c", _INT8_PROGRAM, timeout=600) for m in (AS_IS, machine))
    assert here.returncode == 0 and there.returncode == 0, here.stderr[-2000:] + there.stderr[-2000:]
    assert there.stdout.split()[-1] == here.stdout.split()[-1]
