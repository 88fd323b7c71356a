"""An op a converter cannot handle is named as the user wrote it: the torch op, the module it sits in, and what
to do, whatever the converter's own words (harness/export/unconvertible.py). Real coremltools conversions."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from harness import api
from harness.errors import ExportError
from harness.export import export_model

ROOT = Path(__file__).resolve().parents[2]

#: Ops coremltools 9 fails on in three different places: a MIL pass after conversion (rfft on a flexible batch:
#: "Cannot add const (64, is0)"), no converter at all (histc), a converter that raises (linalg_inv).
OPS = {
    "fft_rfft": lambda x: torch.fft.rfft(torch.cat([x, x], dim=1)).abs()[:, :16],
    "histc": lambda x: torch.histc(x, bins=16).unsqueeze(0).expand(x.shape[0], -1),
    # + 16 I: invertible whatever the ReLU before it zeroes (any seeded weights, any input)
    "linalg_inv": lambda x: torch.linalg.inv(x.reshape(-1, 4, 4) + 16 * torch.eye(4)).reshape(-1, 16),
}


class Odd(nn.Module):
    def __init__(self, op):
        super().__init__()
        self.op = op

    def forward(self, x):
        return self.op(x)


class Net(nn.Module):
    """The odd op two modules deep, between layers a converter handles."""

    def __init__(self, op):
        super().__init__()
        self.pre = nn.Linear(16, 16)
        self.block = nn.Sequential(nn.ReLU(), Odd(op))
        self.head = nn.Linear(16, 2)

    def forward(self, x):
        return self.head(self.block(self.pre(x)))


def model(op: str, frontend: str = "trace"):
    return api.describe(f"odd-{op}".replace("_", "-"), lambda: api.seeded(lambda: Net(OPS[op])),
                        inputs={"x": (None, 16)}, outputs={"y": (None, 2)}, frontend=frontend,
                        make_inputs=lambda rng, n: {"x": rng.uniform(0.5, 1.5, (n, 16)).astype(np.float32)})


def coreml_failure(spec, folder) -> ExportError:
    with pytest.raises(ExportError) as failed:
        export_model(spec, folder, targets=[("coreml", "fp32")])
    return failed.value


@pytest.mark.parametrize("op", OPS)
def test_the_failing_torch_op_and_its_module_are_named_with_what_to_do(op, tmp_path):
    err = coreml_failure(model(op), tmp_path / "out")
    text = str(err)
    assert text.startswith("export stage 'coreml@fp32' failed: coremltools cannot convert torch op "
                           f"'{op}' in module 'block.1' (Odd)"), text
    if op == "fft_rfft":  # converts at a fixed batch: the flexible one is what fails, and that is what is said
        # coremltools numbers its symbols per process (is0, is1968, ...): the number is not the message
        assert re.search(r"with a flexible batch \(1\.\.1024\) \(ValueError: Cannot add const \(32, is\d+\)\), but "
                         r"converts the model with a fixed batch of 1 \(tried once\): declare batch=1 \(--batch 1\), "
                         r"or export once per batch size the app uses$", text), text
    else:
        assert "replace it with ops the converter supports" in text and "keep it out of the exported graph" in text
        assert "--backends torch,onnxruntime" in text
    assert "\n" not in text
    assert err.output  # the converter's own words stay on the error
    assert not (tmp_path / "out").exists()


def test_the_converters_riddle_is_kept_beside_the_op_it_came_from(tmp_path):
    text = str(coreml_failure(model("fft_rfft"), tmp_path / "out"))
    assert "ValueError: Cannot add const" in text  # what the user saw, now with its cause


def test_the_torch_export_frontend_names_the_op_module_and_the_line_that_made_it(tmp_path):
    err = coreml_failure(model("histc", frontend="export"), tmp_path / "out")
    assert "coremltools cannot convert torch op 'aten::histc' in module 'block.1' (Odd) at " in str(err)
    assert f"{__file__}:" in str(err)  # the line of OPS that calls torch.histc


def test_torch_onnx_failures_are_named_the_same_way(tmp_path):
    with pytest.raises(ExportError) as failed:
        export_model(model("histc"), tmp_path / "out", targets=[("onnx", "fp32")])
    assert str(failed.value).startswith("export stage 'onnx@fp32' failed: torch.onnx cannot convert torch op "
                                        "'aten::histc' in module 'block.1' (Odd)")
    assert str(failed.value).endswith("or run without onnxruntime (--backends torch,coreml,coreml-emulated)")


def test_parity_keeps_going_and_the_failed_backends_carry_the_named_op(tmp_path):
    report = api.parity(model("linalg_inv"), "torch,coreml-emulated@fp32", n=8, folder=tmp_path / "out")
    (emulated,) = [r for r in report.runs if r.label.startswith("coreml-emulated")]
    assert emulated.status == "failed"
    assert "coremltools cannot convert torch op 'linalg_inv' in module 'block.1' (Odd)" in emulated.reason


def test_the_command_line_says_it_in_one_line(tmp_path, capsys):
    from harness.cli import main

    source = tmp_path / "odd.py"
    source.write_text(f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
                      "from tests.harness.test_unconvertible import model\n"
                      "def describe_model():\n    return model('fft_rfft')\n")
    assert main(["export", "--model", f"{source}:describe_model", "--out", str(tmp_path / "out"), "-q"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("python -m harness: export stage 'coreml@fp32' failed: coremltools cannot convert torch "
                             "op 'fft_rfft' in module 'block.1' (Odd) with a flexible batch (1..1024) (ValueError: "
                             "Cannot add const"), err
    assert err[1] == "  the converter said (last lines):"


class Aliased(nn.Module):
    """Two outputs that are one value in the traced graph (`shape` picks how): coremltools names a value once."""

    def __init__(self, shape: str):
        super().__init__()
        self.shape, self.a = shape, nn.Linear(4, 4)

    def forward(self, x):
        y = self.a(x)
        return {"input": (x, y), "input copied": (x.clone(), y), "fixed input": (x * 1.0, y),
                "twice": (y, y), "twice copied": (y, y.clone()), "fixed twice": (y, y * 1.0)}[self.shape]


def aliased(shape: str):
    first = "same" if "input" in shape else "a"
    return api.describe("aliased", lambda: api.seeded(lambda: Aliased(shape)), inputs={"x": (None, 4)},
                        outputs={first: (None, 4), "b": (None, 4)})


@pytest.mark.parametrize("shape, says", [
    ("input", "output 'same' is input 'x' returned unchanged"),
    ("input copied", "output 'same' is input 'x' returned unchanged"),
    ("twice", "outputs 'a' and 'b' are one value"),
    ("twice copied", "outputs 'a' and 'b' are one value"),
])
def test_an_output_that_is_an_input_or_another_output_is_named_with_what_to_do(shape, says, tmp_path):
    """An input returned as an output was coremltools' AssertionError about its main block; one value returned twice
    converted to a program whose outputs are ['b', 'b'] (exit 0, then KeyError: 'a' in the emulator)."""
    failure = coreml_failure(aliased(shape), tmp_path / "out")
    assert says in failure.reason and "* 1.0" in failure.reason, failure.reason
    assert "\n" not in failure.reason


@pytest.mark.parametrize("shape", ["fixed input", "fixed twice"])
def test_the_advice_for_aliased_outputs_converts(shape, tmp_path):
    manifest = export_model(aliased(shape), tmp_path / "out", targets=[("coreml", "fp32"), ("coreml", "fp16")])
    assert [a.precision for a in manifest.artifacts] == ["fp32", "fp16"] and not manifest.failures


class IndexedCache(nn.Module):
    """A stateful model writing its state with an in-place op coremltools 9 does not convert for a state."""

    def __init__(self, write):
        super().__init__()
        self.lin = nn.Linear(3, 3)
        self.write = write
        self.register_buffer("cache", torch.zeros(1, 4, 3))

    def forward(self, x):
        self.write(self.cache, self.lin(x))
        return self.cache.sum(1) * 2


WRITES = {
    "index_copy_": lambda cache, v: cache.index_copy_(1, torch.tensor([0]), v[:, None]),
    "copy_": lambda cache, v: cache.copy_(torch.cat([cache[:, 1:], v[:, None]], dim=1)),
}


@pytest.mark.parametrize("op", WRITES)
def test_a_stateful_model_is_not_told_to_run_on_backends_that_refuse_it(op, tmp_path):
    """Without Core ML a model that keeps state runs on torch alone (onnxruntime and ExecuTorch refuse it), so the
    advice to run without coreml (`--backends torch,onnxruntime`, a usage error for it) is not given; a state
    written in place is told the write that converts (slice assignment: the zoo's caches and a gated state pass)."""
    spec = api.describe("indexed", lambda: api.seeded(lambda: IndexedCache(WRITES[op])), inputs={"x": (None, 3)},
                        outputs={"y": (None, 3)}, states=("cache",))
    text = str(coreml_failure(spec, tmp_path / "out"))
    assert text.startswith(f"export stage 'coreml@fp32' failed: coremltools cannot convert torch op '{op}'"), text
    assert "replace it with ops the converter supports" in text and "\n" not in text
    assert "--backends" not in text and "onnxruntime" not in text
    assert "a model that keeps state runs on Core ML alone besides torch, so it needs this conversion" in text
    assert text.endswith("write a state by slice assignment (`buf[:, :] = value`, a position through a one-hot "
                         "mask), which coremltools converts to a state update")
