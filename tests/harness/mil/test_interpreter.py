"""The interpreter's precision rules: storage per declared dtype, accumulation per profile."""

from __future__ import annotations

import numpy as np
import pytest
from coremltools.converters.mil import Builder as mb

from harness.mil import PROFILES, Interpreter, load_program
from harness.mil.profiles import FP16_BLOCK
from harness.parity.compare import compare
from harness.parity.tolerances import FP16, FP32


def fp16_sum_program(x):
    """A 4096-term dot product in an fp16 program: sums of 0.1 pass 256, where fp16 stalls."""
    h = mb.cast(x=x, dtype="fp16")
    w = np.full((1, 4096), 0.1, dtype=np.float16)
    return mb.cast(x=mb.linear(x=h, weight=w), dtype="fp32")


def blocked_fp16_sum(terms: np.ndarray) -> np.float16:
    """The fp16 profile's model, spelled out in float16 scalar arithmetic: exact 32-term blocks, fp16 running sum."""
    total = np.float16(0)
    for start in range(0, len(terms), FP16_BLOCK):
        block = np.float16(sum(float(v) for v in terms[start : start + FP16_BLOCK]))  # exact, then one rounding
        total = np.float16(total + block)  # numpy's float16 add: the fp16 operation
    return total


def test_fp16_accumulation_rounds_once_per_block_where_fp32_accumulation_rounds_once(run_mil):
    x = np.ones((1, 4096), np.float32)
    terms = np.full(4096, np.float16(0.1))
    exact = float(np.float16(0.1)) * 4096
    storage = run_mil(fp16_sum_program, {"x": x}, profile="fp16-storage")[0, 0]
    accumulate = run_mil(fp16_sum_program, {"x": x}, profile="fp16")[0, 0]
    assert storage == np.float16(exact)  # float32 sum, one rounding to fp16 at the end
    assert accumulate == blocked_fp16_sum(terms)
    assert accumulate != storage  # 128 fp16 roundings lose what one does not


ACCUMULATING = {
    "matmul": lambda h: mb.matmul(x=h, y=np.full((4096, 1), 0.1, np.float16)),
    "einsum": lambda h: mb.einsum(values=(mb.reshape(x=h, shape=[1, 1, 1, 4096]),
                                          np.full((1, 4096, 1, 1), 0.1, np.float16)), equation="nchw,nwhu->nchu"),
    "conv": lambda h: mb.conv(x=mb.reshape(x=h, shape=[1, 4096, 1]), weight=np.full((1, 4096, 1), 0.1, np.float16)),
    "reduce_sum": lambda h: mb.reduce_sum(x=mb.mul(x=h, y=np.float16(0.1)), axes=[-1]),
}


@pytest.mark.parametrize("name", sorted(ACCUMULATING))
def test_every_accumulating_op_sums_in_fp16_blocks_under_the_fp16_profile(run_mil, name):
    def build(x):
        return mb.cast(x=ACCUMULATING[name](mb.cast(x=x, dtype="fp16")), dtype="fp32")

    x = np.ones((1, 4096), np.float32)
    blocked = run_mil(build, {"x": x}, profile="fp16").reshape(-1)[0]
    rounded_once = run_mil(build, {"x": x}, profile="fp16-storage").reshape(-1)[0]
    assert blocked == blocked_fp16_sum(np.full(4096, np.float16(0.1)))
    assert rounded_once == np.float16(float(np.float16(0.1)) * 4096)


@pytest.mark.parametrize("k", [7, 32, 33, 1000, 4096])
def test_fp16_dot_products_stay_within_the_profiles_stated_bound(run_mil, k):
    """|computed - exact| <= (gamma16(m) + gamma32(32) (1 + gamma16(m))) sum|a_i b_i|, m = ceil(k / 32)."""
    rng = np.random.default_rng(k)
    a = rng.normal(size=(64, k)).astype(np.float16)
    b = rng.normal(size=(k, 3)).astype(np.float16)

    def build(x):
        return mb.cast(x=mb.matmul(x=mb.cast(x=x, dtype="fp16"), y=b), dtype="fp32")

    got = run_mil(build, {"x": a.astype(np.float32)}, profile="fp16").astype(np.float64)
    exact = a.astype(np.float64) @ b.astype(np.float64)
    magnitude = np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64))

    def gamma(n, u):
        return n * u / (1 - n * u)

    m = -(-k // FP16_BLOCK)
    bound = (gamma(m, 2.0**-11) + gamma(FP16_BLOCK, 2.0**-24) * (1 + gamma(m, 2.0**-11))) * magnitude
    # the result is stored as fp16: its final rounding is one of the m counted above
    assert (np.abs(got - exact) <= bound).all()
    assert (np.abs(got - exact) > 0).any()  # the bound is not met vacuously by an exact sum


def test_values_are_stored_as_their_declared_dtype(run_mil):
    x = np.full((1, 4096), 1.0, np.float32)
    for profile, dtype in (("fp32", np.float32), ("fp16-storage", np.float16), ("fp16", np.float16)):
        _, result, program = run_mil(fp16_sum_program, {"x": x}, profile=profile, capture=True)
        linear = next(name for name, op in result.order if op == "linear")
        assert result.trace[linear].dtype == dtype, profile
        assert result.outputs[program.main.outputs[0]].dtype == np.float32


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_fp16_typed_program_inputs_and_outputs_are_float16_under_every_profile(run_mil, profile):
    """A device hands fp16 I/O over as float16 whatever it computes in (iOS16+ programs)."""
    import coremltools as ct

    x = np.array([[1.0 + 2**-12, 70000.0, 1e-8, 3.14159]], dtype=np.float32)

    def build(x):
        return mb.mul(x=x, y=np.float16(1.0))

    got = run_mil(build, {"x": x.astype(np.float16)}, profile=profile, opset=ct.target.iOS16)
    assert got.dtype == np.float16
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(got, x.astype(np.float16))
    # the input is rounded on the way in as well: fed as float32, it is still rounded
    _, result, program = run_mil(build, {"x": x.astype(np.float16)}, profile=profile, opset=ct.target.iOS16,
                                 capture=True)
    assert program.inputs[0][1].dtype == "FLOAT16"
    fed = Interpreter(program, PROFILES[profile]).run({"x": x}).outputs
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(next(iter(fed.values())), x.astype(np.float16))


def test_fp32_profile_matches_torch_within_the_fp32_policy(series_model, series_export):
    import torch

    manifest, folder = series_export
    cases = series_model.make_cases(200, seed=4)
    program = load_program(folder / manifest.artifact("coreml", "fp32").path)
    out = Interpreter(program, PROFILES["fp32"]).run({"series": cases.inputs}).outputs["probs"]
    ref = series_model.build()(torch.from_numpy(cases.inputs)).detach().numpy()
    result = compare(ref, out, policy=FP32, threshold=0.5, decision_mask=cases.decision_mask,
                     inputs=cases.inputs)
    assert result, result.to_dict()


@pytest.mark.parametrize("profile", ["fp16-storage", "fp16"])
def test_fp16_profiles_differ_from_torch_within_the_fp16_policy_only(series_model, series_export, profile):
    """Judged on 1,000 cases (64,000 decisions): the fp16 policy allows 1 flip in 10,000."""
    import torch

    manifest, folder = series_export
    cases = series_model.make_cases(1000, seed=0)
    program = load_program(folder / manifest.artifact("coreml", "fp16").path)
    out = Interpreter(program, PROFILES[profile]).run({"series": cases.inputs}).outputs["probs"]
    ref = series_model.build()(torch.from_numpy(cases.inputs)).detach().numpy()
    assert compare(ref, out, policy=FP16, threshold=0.5, inputs=cases.inputs,
                   decision_mask=cases.decision_mask)
    assert not compare(ref, out, policy=FP32, threshold=0.5, inputs=cases.inputs).numeric_ok


def test_the_interpreter_loads_without_torch():
    """numpy runs the program; torch (2 s to import) is loaded only by an op that needs its erf."""
    import subprocess
    import sys

    code = "import sys, harness.mil; print(sorted({'torch', 'coremltools'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr
