"""The kit's model through ExecuTorch from the command line: its int8 program fails on decisions, by its clamp.

Moved from tests/harness/test_executorch.py (whose command helpers it uses): the harness's tests run users'
models; this one is about the kit's.
"""

from __future__ import annotations

import pytest

from tests.harness.test_executorch import _parity_command, _rows


@pytest.mark.slow
def test_trendsplit_parity_through_executorch_from_the_command_line(tmp_path):
    """The README's command on a fresh folder: every ExecuTorch variant in the one table and verdict.
    trendsplit's int8 program fails on decisions: its clamp lets inputs of +-100 set the input's int8 step."""
    proc = _parity_command("trendsplit", tmp_path / "trendsplit", 300)
    rows = _rows(proc.stdout)
    assert rows["executorch@fp32[xnnpack]"].endswith("PASS"), proc.stdout + proc.stderr
    assert rows["executorch@fp32[portable]"].endswith("PASS")
    assert " int8 " in rows["executorch@int8[xnnpack]"] and "FAIL decisions" in rows["executorch@int8[xnnpack]"]
    assert proc.returncode == 1 and proc.stdout.splitlines()[-1].startswith("FAILED: 1 of 3 pairs failed")
    assert "Traceback" not in proc.stderr
