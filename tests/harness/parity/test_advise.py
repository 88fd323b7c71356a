"""What to change, verified: the ops an fp16 program keeps in float32, found, converted and run."""

from __future__ import annotations

import numpy as np
import torch

from harness import api
from harness.backends import parse_backends
from harness.parity import steps
from harness.parity.advise import advise


def test_an_fp16_overflow_is_fixed_by_the_ops_advised_and_the_advice_applies(fp16_overflow_model, shared_export,
                                                                              tmp_path):
    """The user model's amplifier overflows float16: the advice keeps that op (and what carries its values
    until a LayerNorm shrinks them) in float32, its program is converted and run, and the model exported
    with the advice has no overflow left where the plain fp16 export has."""
    spec = fp16_overflow_model
    folder = shared_export(spec)[1]
    located = steps.parity(spec, parse_backends("torch,coreml-emulated@fp16[fp16-storage]"), n=64, seed=0,
                           folder=folder)
    (diagnosis,) = located.diagnoses.values()
    assert diagnosis["overflow"] and diagnosis["first"]["op"] == "mul"
    advice = advise(spec, folder, profile="fp16-storage", n=64, max_steps=4)
    assert advice.before > 0 and advice.after < advice.before, advice.render()
    # the mul that overflows, as localize names it in the fp16 program (coremltools adds "_cast_fp16" there)
    assert diagnosis["first"]["name"].removesuffix("_cast_fp16") in advice.fp32_ops
    assert 0 < len(advice.fp32_ops) < advice.compute_ops
    compile(advice.code(), "advice", "exec")  # the code printed for ct.convert is Python
    assert "KEEP_FP32" in advice.render()

    def parity(model, where, explain=False):
        return steps.parity(model, parse_backends("torch,coreml-emulated@fp16[fp16-storage]"), n=64, seed=0,
                            folder=where, explain=explain)

    applied = api.apply_advice(advice, spec)
    assert applied.fp32_ops == frozenset(advice.fp32_ops)
    assert sum(c.non_finite for c in parity(spec, folder).comparisons) > 0
    advised = parity(applied, tmp_path / "advised", explain=True)
    assert sum(c.non_finite for c in advised.comparisons) == 0
    # and its class: the Monte Carlo runs keep in float32 the ops the export keeps there (they rounded them to
    # float16 as if nothing were kept: every run overflowed, no spread, and the fixed pair was BEYOND precision)
    (fixed,) = advised.precision
    assert fixed.within, fixed.summary()
    # the export made as advised passes its artifact checks: the ops kept in float32 are kept on purpose (it
    # FAILED "in FLOAT32 without a reason coremltools would have", so following the advice failed the run)
    (fp16_check,) = [a for a in advised.artifact_checks if a.precision == "fp16"]
    assert fp16_check, [f.detail for f in fp16_check.failures]
    assert "kept in FLOAT32 as advised" in next(f.detail for f in fp16_check.findings if f.rule == "computes_in_fp16")
    assert advised.status != "FAILED" or any(c.verdict == "fail" for c in advised.comparisons)
    from harness.mil import load_program

    program = load_program(next((tmp_path / "advised").glob("*-fp16.mlpackage")))
    float32_made = {n for op in program.operations() for n, t in op.outputs if t.dtype == "FLOAT32"}
    assert set(advice.fp32_ops) <= float32_made  # the ops named are the ones kept
    assert advice.size_after > 0


class _Loud(torch.nn.Module):
    """A LayerNorm over values of order 1e4 (a Linear of large weights over 512 inputs of scale 30): its sums pass
    float16's range when the fp16 profile sums in float16; kept in float32, they do not."""

    def __init__(self):
        super().__init__()
        self.big = torch.nn.Linear(512, 64)
        self.norm = torch.nn.LayerNorm(64)
        self.head = torch.nn.Linear(64, 4)
        with torch.no_grad():
            self.big.weight.mul_(200.0)

    def forward(self, x):
        return self.head(self.norm(self.big(x)))


def _loud_inputs(rng, n):
    return {"x": (rng.normal(size=(n, 512)) * 30).astype(np.float32)}


def test_the_precision_class_of_an_export_made_as_advised_keeps_its_ops_in_float32(shared_export, tmp_path):
    """The Monte Carlo runs rounded every op of the float32 program to float16, the ops the advised export keeps in
    float32 included: under the fp16 profile every run overflowed the LayerNorm's sums (no spread), and the fixed
    export, finite and right, was "BEYOND fp16 precision ... suspect the conversion", its pair FAILED."""
    import types

    from harness.mil import load_program
    from harness.spec import built

    spec = built(api.describe("loud", lambda: api.seeded(_Loud), inputs={"x": (None, 512)}, outputs={"y": (None, 4)},
                              make_inputs=_loud_inputs, decision="argmax"))
    folder = shared_export(spec)[1]
    program = load_program(next(folder.glob("*-fp16.mlpackage")))
    (norm,) = [name.removesuffix("_cast_fp16") for op in program.operations() if op.type == "layer_norm"
               for name, _ in op.outputs]
    fp16 = parse_backends("torch,coreml-emulated@fp16[fp16]")
    plain = steps.parity(spec, fp16, n=256, seed=0, folder=folder)
    assert plain.status == "FAILED"  # the LayerNorm's float16 sums overflow as exported: its decisions flip
    kept = api.apply_advice(types.SimpleNamespace(fp32_ops=(norm,)), spec)
    fixed = steps.parity(kept, fp16, n=256, seed=0, folder=tmp_path / "kept", explain=True)
    assert sum(c.non_finite for c in fixed.comparisons) == 0
    (cls,) = fixed.precision
    assert cls.within, cls.summary()
