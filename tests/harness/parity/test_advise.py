"""What to change, verified: the ops an fp16 program keeps in float32, found, converted and run."""

from __future__ import annotations

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

    def parity(model, where):
        return steps.parity(model, parse_backends("torch,coreml-emulated@fp16[fp16-storage]"), n=64, seed=0,
                            folder=where)

    applied = api.apply_advice(advice, spec)
    assert applied.fp32_ops == frozenset(advice.fp32_ops)
    assert sum(c.non_finite for c in parity(spec, folder).comparisons) > 0
    advised = parity(applied, tmp_path / "advised")
    assert sum(c.non_finite for c in advised.comparisons) == 0
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
