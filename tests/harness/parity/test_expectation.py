"""Precision or bug: pairs set against float64 and the spread Monte Carlo arithmetic gives their precision."""

from __future__ import annotations

import copy
import dataclasses
import json
import types

import numpy as np
import pytest
import torch

from harness import api
from harness.backends import parse_backends
from harness.mil import Interpreter, get_profile, load_program
from harness.mil.montecarlo import RandomRounding
from harness.parity import cases as chunking
from harness.parity import expectation, steps
from harness.parity.verdict import ParityReport
from harness.report.text import format_report, verdict_text
from harness.results import Reading
from tests.user_model import fp16_overflow, series


@pytest.fixture(scope="module")
def exported(shared_export):
    from harness.models import get_model

    def export(name):
        """A zoo model by name, or a user's model (tests/user_model/: what the harness's tests run) by module."""
        spec = get_model(name) if isinstance(name, str) else name.describe_model()
        return spec, shared_export(spec)[1]

    return export


def test_stochastic_rounding_to_fp16_is_unbiased_and_lands_on_a_neighbour():
    """A quarter of the way from 1 to float16's next value 1 + 2^-10: up one time in four."""
    x = np.full(40_000, np.float32(1 + 0.25 * 2.0**-10), np.float32)
    drawn = RandomRounding(0).fp16(x)
    assert set(np.unique(drawn)) == {np.float32(1.0), np.float32(1 + 2.0**-10)}
    assert abs(np.mean(drawn == np.float32(1 + 2.0**-10)) - 0.25) < 0.01  # up with probability 1/4
    assert np.array_equal(drawn, RandomRounding(0).fp16(x))  # seeded: a classification repeats exactly
    exact = np.array([0.5, -2.0, 65504.0], np.float32)  # fp16 values: never moved
    assert np.array_equal(RandomRounding(1).fp16(exact), exact)


def test_a_series_model_is_within_precision_on_every_pair_and_its_flips_are_expected(exported, tmp_path):
    spec, folder = exported(series)
    report = steps.parity(spec, parse_backends("torch,onnxruntime,coreml-emulated"), n=150, seed=0, folder=folder,
                          explain=True)
    assert report, format_report(report)
    assert {p.pair for p in report.precision} == {c.pair for c in report.comparisons}
    for p in report.precision:
        assert p.within, p.summary()
        assert p.samples == expectation.SAMPLES and p.spread > 0 and p.deviation > 0  # something was measured
        assert p.deviation <= p.factor * p.spread
        assert all(f.expected for f in p.flips), p.summary()
    fp16 = [p for p in report.precision if p.precision == "fp16"]
    assert fp16 and all(p.spread > 100 * p.reference_noise for p in fp16)  # fp16's spread, not float32's
    # every pair's numbers were judged against float64 (the fp16 policy alone judges decisions only)
    assert {c.judged for c in report.comparisons} == {"float64+decisions"}, format_report(report)
    assert "set against float64" in report.headline
    read = ParityReport.read(report.write(tmp_path / "r.json"))
    assert read.precision == report.precision
    assert [(c.judged, c.verdict) for c in read.comparisons] == [(c.judged, c.verdict) for c in report.comparisons]
    # a comparison saved before the cases outside the allowance were listed: the class cannot speak for them
    doc = json.loads((tmp_path / "r.json").read_text())
    for c in doc["comparisons"]:
        del c["violating_cases"], c["violation_cases"]
    (tmp_path / "old.json").write_text(json.dumps(doc))
    old = ParityReport.read(tmp_path / "old.json")
    assert all(c.numbers_by != "float64" for c in old.comparisons if c.numeric_violations)
    assert "precision or bug" in format_report(read)
    from harness import report as reports

    reports.write(read, html=tmp_path / "r.html")
    assert "within fp16 precision" in (tmp_path / "r.html").read_text()


def test_fp16_overflow_is_beyond_precision_and_fp32_is_within(exported):
    spec, folder = exported(fp16_overflow)
    report = steps.parity(spec, parse_backends("torch,onnxruntime,coreml-emulated@fp16[fp16-storage]"), n=200,
                          seed=0, folder=folder)
    classes = {p.pair: p for p in report.precision}
    fp16 = classes["coreml-emulated@fp16[fp16-storage] vs torch@fp32"]  # failing: classified without asking
    assert not fp16.within and fp16.overflow_cases and "overflow" in fp16.summary()
    assert all(not f.expected for f in fp16.flips if f.overflow)
    assert "onnxruntime@fp32 vs torch@fp32" not in classes  # it passed: only failing pairs without --explain


def test_a_changed_weight_is_beyond_precision_where_rounding_is_within(exported):
    """A copy of the converted fp32 program with one weight changed by 1%: the emulator runs it faithfully,
    and the classification says it is no rounding; the intact program on the same cases is within."""
    spec, folder = exported(series)
    program = load_program(next(folder.glob("*-fp32.mlpackage")))
    broken = copy.deepcopy(program)
    weight = next(op for op in broken.operations() if op.type == "const" and isinstance(op.value, np.ndarray)
                  and op.value.ndim == 3)  # the first conv's weights
    weight.value = weight.value.copy()
    weight.value.flat[np.argmax(np.abs(weight.value))] *= 1.01
    cases = list(range(64))
    feeds = chunking.take(spec, 64, 0, cases)
    r64 = expectation.float64_outputs(spec, feeds)["probs"]
    from harness.backends.pytorch import TorchBackend

    r32 = TorchBackend.of(spec).run(feeds)["probs"].astype(np.float64)
    samples = [s["probs"] for s in expectation.monte_carlo(program, "fp32", feeds, "fp32")]
    reading = Reading.of(spec)

    def judged(prog):
        out = Interpreter(prog, get_profile("fp32")).run(feeds).outputs["probs"].astype(np.float64)
        from harness.parity.compare import compare
        from harness.parity.tolerances import FP32

        c = compare(r32, out, policy=FP32, reference_name="torch@fp32", candidate_name="coreml-emulated@fp32[fp32]")
        return c, expectation.classify(c, reading, cases, out, r64, r32, samples, "fp32", "test")

    (c_intact, intact), (c_changed, changed) = judged(program), judged(broken)
    assert intact.within, intact.summary()
    assert not changed.within and changed.worst_ratio > 10 * changed.factor, changed.summary()
    # the class is the verdict's authority on numbers: the changed program fails as beyond precision
    # whatever the policy's atol let through; the intact one passes on it
    assert dataclasses.replace(c_intact, expectation=intact).verdict == "pass"
    failed = dataclasses.replace(c_changed, expectation=changed)
    assert failed.verdict == "fail" and failed.numbers_by == "float64" and failed.judged == "float64+decisions"


def _pair(candidate, r64, cases, samples, policy=None, decision="none"):
    """A comparison of `candidate` with the float32 reference, and its class on `cases`."""
    from harness.parity.compare import compare
    from harness.parity.tolerances import FP32

    r32 = r64.astype(np.float32)
    c = compare(r32, candidate.astype(np.float32), policy=policy or FP32, decision=decision)
    reading = Reading(("y",), "y", decision, 0.5, None)
    k = list(cases)
    cls = expectation.classify(c, reading, k, candidate[k], r64[k], r32[k].astype(np.float64),
                               [s[k] for s in samples], "fp32", "test")
    return dataclasses.replace(c, expectation=cls)


def test_the_class_judges_the_numbers_only_where_it_saw_every_case_the_allowance_refused():
    """Deviations of the size rounding gives (here: Monte Carlo runs spread as far) fail a policy's
    atol, and pass when the class set every refused case against float64; a case it did not estimate,
    or tolerances the user set, leave the policy's verdict standing; beyond precision fails through any atol."""
    from harness.parity.tolerances import FP32, Overrides

    rng = np.random.default_rng(0)
    r64 = rng.uniform(1.0, 2.0, size=(40, 6))
    samples = [r64 + rng.normal(0, 1e-3, r64.shape) for _ in range(8)]
    near = r64 + rng.normal(0, 1e-3, r64.shape)
    every = range(40)
    c = _pair(near, r64, every, samples)
    assert not c.numeric_ok and c.violating_cases == 40  # the policy's atol refuses it ...
    assert c.expectation.within and c.numbers_by == "float64" and c.verdict == "pass" and c.judged == "float64"
    unseen = _pair(near, r64, range(1, 40), samples)  # ... the class did not estimate case 0
    assert unseen.numbers_by == "policy" and unseen.verdict == "fail"
    user = _pair(near, r64, every, samples, policy=Overrides.of(atol="fp32=1e-6").apply(FP32))
    assert user.numbers_by == "policy" and user.verdict == "fail"
    far = near.copy()
    far[7] += 0.05  # one case 50 spreads off: no rounding goes so far
    loose = Overrides.of(atol="fp32=1").apply(FP32)
    beyond = _pair(far, r64, every, samples, policy=loose)
    assert beyond.numeric_ok and not beyond.expectation.within and beyond.expectation.beyond_cases == (7,)
    assert beyond.verdict == "fail" and verdict_text(beyond) == "FAIL beyond-precision"


def test_monte_carlo_leaves_the_inputs_an_fp16_program_keeps_in_float32(exported):
    """A resize to a size that is no integer multiple takes its scale factors as float32 constants, which
    coremltools' fp16 pass never casts: rounded at random, 1.2 became 1.1992 and the output one row short
    (zoo-resizer got no class: its concat refused the shapes). Left exact, every run has the program's shapes."""
    from harness.mil.montecarlo import kept_fp32

    assert kept_fp32("upsample_nearest_neighbor", "scale_factor_height") and not kept_fp32("conv", "weight")
    assert not kept_fp32("mul", "y") and not kept_fp32("no_such_op", "x")
    spec, folder = exported("zoo-resizer")
    program = load_program(next(folder.glob("*-fp32.mlpackage")))
    feeds = chunking.take(spec, 16, 0, list(range(16)))
    plain = Interpreter(program, get_profile("fp16")).run(feeds).outputs
    runs = expectation.monte_carlo(program, "fp16", feeds, "fp16", samples=3)
    assert all(r[k].shape == plain[k].shape for r in runs for k in plain)
    assert not all(np.array_equal(runs[0][k], runs[1][k]) for k in plain)  # still rounded at random elsewhere


class _Amplified(torch.nn.Module):
    """A scale past float16's range after the last layer: coremltools' fp16 pass keeps an op whose float32 constant
    would overflow in float32 (`fp16_overflow`), so the fp16 program computes `* 1e5` in float32."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(6, 3)

    def forward(self, x):
        return self.a(x) * 1e5


def _explained(exported, spec, backends: str, n: int):
    """`spec` exported, and its explained parity run against `backends` on n cases of seed 0."""
    spec, folder = exported(types.SimpleNamespace(describe_model=lambda: spec))
    return steps.parity(spec, parse_backends(backends), n=n, seed=0, folder=folder, explain=True)


def test_monte_carlo_keeps_in_float32_the_ops_an_fp16_program_keeps_there(exported):
    """Rounded at random to float16, the `* 1e5`'s results above 65,504 were infinite: no spread, so the pair's fp16
    rounding (0.05% of outputs of 1e5) was BEYOND fp16 precision by 4e4x, "suspect the conversion", and FAILED."""
    spec = api.describe("amplified", lambda: api.seeded(_Amplified), inputs={"x": (None, 6)},
                        outputs={"y": (None, 3)}, decision="argmax")
    report = _explained(exported, spec, "torch,coreml-emulated@fp16[fp16-storage]", n=64)
    (fp16,) = report.precision
    assert fp16.within, fp16.summary()
    assert report.comparisons[0].max_reference > 65504 and report, format_report(report)


def test_flips_of_a_program_that_computes_something_else_are_not_expected_at_its_precision():
    """Monte Carlo runs are runs of the candidate's program: when it computes something else (coremltools lowering
    SDPA's enable_gqa with tile: other heads), every run decides as the program does, far from the reference, and
    that is no rounding. The flips were called "expected at this precision" because every run flipped them too;
    a flip is expected where the runs disagree among themselves, or the reference's margin is within the spread."""
    rng = np.random.default_rng(0)
    r64 = rng.uniform(-1.0, 1.0, size=(40, 3))
    r64[:, 0] += 3.0  # class 0 by a margin of 2 or more on every case
    wrong = r64[:, ::-1].copy()  # the program's classes in another order: class 2 everywhere
    runs = [wrong + rng.normal(0, 1e-4, wrong.shape) for _ in range(8)]
    c = _pair(wrong, r64, range(40), runs, decision="argmax")
    flips = c.expectation.flips
    assert len(flips) >= 10 and not any(f.expected for f in flips), flips[0]  # the flips the comparison lists
    assert f"of {len(flips)} flips estimated, 0 expected at this precision, {len(flips)} not" in c.expectation.summary()
    # the control: a program right on average whose runs straddle a tight margin: rounding flips it
    tight = r64.copy()
    tight[:, 1] = tight[:, 0] - 1e-4  # class 0 by 1e-4, runs spread 1e-3 around it
    straddle = [tight + rng.normal(0, 1e-3, tight.shape) for _ in range(8)]
    flipped = tight.copy()
    flipped[:, 1] += 2e-4
    c = _pair(flipped, tight, range(40), straddle, decision="argmax")
    assert c.expectation.flips and all(f.expected for f in c.expectation.flips)


def test_flips_of_an_argmax_at_every_position_are_set_against_that_positions_scores():
    """A per-token classifier (outputs (None, T, C), argmax on the last axis) whose pair flips a decision: the
    margin was taken between two rows of the case (float() of an array: an internal error in parity)."""
    rng = np.random.default_rng(1)
    r64 = rng.uniform(-1.0, 1.0, size=(30, 5, 3))
    r64[:, :, 0] += 3.0  # class 0 at every position, by 2 or more
    candidate = r64.copy()
    candidate[4, 2] = r64[4, 2, ::-1]  # case 4, position 2 decided otherwise: class 2
    runs = [r64 + rng.normal(0, 1e-4, r64.shape) for _ in range(8)]
    c = _pair(candidate, r64, range(30), runs, decision="argmax")
    (flip,) = c.expectation.flips
    assert (flip.case, flip.position, flip.expected) == (4, 2, False)
    top = np.sort(r64[4, 2])
    assert flip.margin == pytest.approx(top[-1] - top[-2])


class _SoftPlus(torch.nn.Module):
    """A softplus written with `torch.where`: `exp` passes float16's range for x > 11, a branch taken up to x = 20."""

    def forward(self, x):
        return torch.where(x > 20, x, torch.log1p(torch.exp(x)))


class _SoftPlusWhere(torch.nn.Module):
    """`_SoftPlus` on an amplified projection; the sigmoid after it saturates, so the outputs stay finite."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(8, 16)
        self.act = _SoftPlus()
        self.out = torch.nn.Linear(16, 1)

    def forward(self, x):
        return torch.sigmoid(0.2 * self.out(self.act(self.proj(x) * 6)))


def test_an_overflow_inside_the_model_whose_outputs_stay_finite_is_called_an_overflow_not_a_conversion_defect(exported):
    """The module where the pair starts overflows (its values infinite where float64's are finite), but the output
    saturates: the line said "not rounding, suspect the conversion, the runtime or the emulator", sending the user
    after a converter bug for fp16's range, with no word of the fix (`advise`: keep the `exp` in fp32)."""
    spec = api.describe("softplus-where", lambda: api.seeded(_SoftPlusWhere), inputs={"x": (None, 8)},
                        outputs={"p": (None, 1)}, decision="threshold")
    report = _explained(exported, spec, "torch,coreml-emulated@fp16[fp16-storage]", n=64)
    (fp16,) = report.precision
    assert not fp16.within and not fp16.overflow_cases, fp16.summary()  # finite outputs, beyond precision
    assert fp16.first_module.title == "act (_SoftPlus)" and fp16.first_module.overflow, fp16.modules
    assert "suspect the conversion" not in fp16.summary(), fp16.summary()
    assert "an overflow inside the model at act (_SoftPlus), whose values pass" in fp16.summary(), fp16.summary()
    assert "python -m harness advise" in fp16.summary()


class _FunctionalSoftPlusWhere(torch.nn.Module):
    """`_SoftPlusWhere` with its softplus written as functional code: no module of its own to name."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(8, 16)
        self.out = torch.nn.Linear(16, 1)

    def forward(self, x):
        h = self.proj(x) * 6
        return torch.sigmoid(0.2 * self.out(torch.where(h > 20, h, torch.log1p(torch.exp(h)))))


def test_an_overflow_in_functional_code_no_module_maps_is_named_by_the_program_s_op(exported):
    """No torch module maps to the values where it goes wrong (functional code; coremltools fused the Linears with
    what follows them): the pair FAILED "not rounding, suspect the conversion" and named nowhere, where the program's
    `exp` overflows; `localize` without `--pair` found it, parity never said so (the pair failed by its class alone,
    after the op-level localisation of failing pairs had run)."""
    spec = api.describe("softplus-functional", lambda: api.seeded(_FunctionalSoftPlusWhere), inputs={"x": (None, 8)},
                        outputs={"p": (None, 1)}, decision="threshold")
    report = _explained(exported, spec, "torch,coreml-emulated@fp16[fp16-storage]", n=64)
    (fp16,) = report.precision
    assert not fp16.within and not fp16.overflow_cases, fp16.summary()
    assert "suspect the conversion" not in fp16.summary(), fp16.summary()
    assert "an overflow inside the model at " in fp16.summary() and "(exp)" in fp16.summary(), fp16.summary()
    assert fp16.starts_at.endswith("(exp)")
    again = type(fp16).from_dict(json.loads(json.dumps(fp16.to_dict())))  # saved and read back: the same line
    assert again.summary() == fp16.summary()


def test_an_output_rounded_to_float16_is_within_fp16_precision_when_the_runs_happen_to_agree():
    """Logits near 5 (a small-margin classifier, `z * 1e-2 + 5`): float16's grid there is 2^-8 apart, and 8 Monte
    Carlo runs of stochastic rounding all land on the same neighbour of a value 6% of a step past it one time in
    1.6. On the cases where every run agreed the spread was float32's noise alone (2e-7), and the fp16 program's
    rounding to nearest, a third of a step, was "BEYOND fp16 precision by 3.6e3x, suspect the conversion" (2 of 128
    cases of `parity --explain`). Rounding the output to float16 alone moves it that far: the spread is never less
    than the precision's unit roundoff of the value; four steps off stays beyond."""
    from harness.parity.compare import compare
    from harness.parity.tolerances import FP16

    rng = np.random.default_rng(0)
    r64 = 5.0 + rng.uniform(-0.02, 0.02, size=(64, 3))
    fp16 = r64.astype(np.float16).astype(np.float64)  # the fp16 program: its outputs rounded to nearest
    runs = [fp16.copy() for _ in range(8)]  # every run landed where rounding to nearest does
    r32 = r64.astype(np.float32).astype(np.float64)
    cases = list(range(64))

    def classed(candidate):
        c = compare(r32.astype(np.float32), candidate.astype(np.float32), policy=FP16, decision="none")
        return expectation.classify(c, Reading(("y",), "y", "none", 0.5, None), cases, candidate, r64, r32, runs,
                                    "fp16", "test")

    assert classed(fp16).within, classed(fp16).summary()
    off = fp16.copy()
    off[9, 1] += 4 * 2.0**-8  # four float16 steps: no rounding of the output goes so far
    assert classed(off).beyond_cases == (9,), classed(off).summary()


def test_the_monte_carlo_runs_are_strata_of_one_draw_so_they_never_all_round_one_way_a_coin_would_not():
    """Each of 8 runs rounds a value up with its probability p; drawn apart, all 8 went the same way for a value 2/3
    of a step up one time in 30, and its spread was nothing. Strata of one draw: about p * 8 runs go up."""
    low = np.float32(2038.0)  # float16's neighbours 2038 and 2039
    p = np.linspace(0.13, 0.87, 4000)
    x = (low + p).astype(np.float32)
    runs = np.stack([RandomRounding(7, "fp16", k, 8).fp16(x) for k in range(8)])
    up = (runs == low + 1).sum(axis=0)
    assert ((runs == low) | (runs == low + 1)).all()  # still a neighbour, on every run
    assert (up >= 1).all() and (up <= 7).all()  # never every run one way
    assert np.abs(up - 8 * p).max() <= 1.0  # about p * 8 of them up
    assert np.array_equal(runs[3], RandomRounding(7, "fp16", 3, 8).fp16(x))  # repeatable


class _SumLess(torch.nn.Module):
    """A sum of 4,096 sigmoids (about 2,048) less 2,048: the cancellation shows the sum's rounding, at float16's
    step of 1 there, in the decision."""

    def __init__(self):
        super().__init__()
        self.feat = torch.nn.Linear(16, 4096)

    def forward(self, x):
        return torch.sigmoid((torch.sigmoid(self.feat(x)).sum(dim=1, keepdim=True) - 2048.0) / 8.0)


def test_a_sum_of_thousands_of_values_into_a_cancellation_is_within_precision_where_float16_accumulates(exported):
    """fp16's own nature (the device would do the same): under the fp16 profile (float16 partial sums) it FAILED
    "BEYOND fp16 precision, suspect the conversion" on 108 of 128 cases: every Monte Carlo run rounded the partial
    sums to nearest, made the same error as the program, and never spread. (fp16-storage, whose sum is float32
    but stored as float16, a step of 1 there, went from 24 of 128 cases beyond to 6 with the runs stratified; a
    value within an eighth of a step of float16's grid can still round the same way in all 8 runs.)"""
    spec = api.describe("sum-less", lambda: api.seeded(_SumLess), inputs={"x": (None, 16)}, outputs={"p": (None, 1)},
                        decision="threshold")
    report = _explained(exported, spec, "torch,coreml-emulated@fp16[fp16]", n=128)
    (fp16,) = report.precision
    assert fp16.within, fp16.summary()
    assert fp16.deviation > 0.01  # rounding moved the decisions' scores far: something was set against it
    assert sum(f.expected for f in fp16.flips) >= len(fp16.flips) - 1 >= 5, fp16.summary()


def test_the_coreml_program_executorch_embeds_is_estimated_under_the_profile_it_ran():
    """`executorch-coreml-emulated@fp16[fp16-storage]` runs the embedded CoreML program under fp16-storage (float32
    sums), as `coreml-emulated@fp16[fp16-storage]` does; its Monte Carlo runs were the fp16 profile's (float16
    sums, a wider spread: a defect had more room to pass as rounding). A device's fp16 is set against the widest."""
    def profile(name, option):
        return expectation.precision_of(types.SimpleNamespace(name=name, precision="fp16", option=option))

    for option in ("fp32", "fp16-storage", "fp16"):
        assert profile("executorch-coreml-emulated", option) == ("fp16", option)
        assert profile("coreml-emulated", option) == ("fp16", option)
    assert profile("coreml", "ALL") == ("fp16", expectation.DEVICE_FP16_PROFILE)


def test_a_runtime_summing_thousands_of_values_in_its_own_order_is_within_fp32_precision(exported):
    """onnxruntime's ReduceSum of the 4,096 sigmoids is 2 float32 steps (5e-4) from float64 at 2,048, its own
    order of additions; the Monte Carlo runs rounded only each op's result (1 step), and the cancellation after
    it made the pair "BEYOND fp32 precision by 242x, suspect the runtime" on 13 of 128 cases. A run's sums now
    carry the error their additions can make."""
    spec = api.describe("sum-less", lambda: api.seeded(_SumLess), inputs={"x": (None, 16)}, outputs={"p": (None, 1)},
                        decision="threshold")
    report = _explained(exported, spec, "torch,onnxruntime,coreml-emulated@fp32", n=128)
    assert len(report.precision) == 2
    for fp32 in report.precision:
        assert fp32.within, fp32.summary()
    onnx = next(p for p in report.precision if p.pair.startswith("onnxruntime"))
    assert onnx.deviation > 1e-5  # the runtime's sum did move the outputs: something was set against the spread


def test_a_classified_pair_of_a_model_with_several_outputs_is_named_once_in_the_text_report():
    """A pair's name already holds its output (`x vs torch@fp32 [logits]`): the precision lines said it twice."""
    from harness.parity.compare import compare
    from harness.parity.tolerances import FP32
    from harness.parity.verdict import ParityReport
    from harness.report.text import format_report
    from harness.results import Inputs

    rng = np.random.default_rng(0)
    r64 = rng.uniform(1.0, 2.0, size=(20, 3))
    samples = [r64 + rng.normal(0, 1e-3, r64.shape) for _ in range(8)]
    r32 = r64.astype(np.float32)
    c = compare(r32, (r64 + 0.1).astype(np.float32), policy=FP32, decision="none", output="logits",
                reference_name="torch@fp32", candidate_name="onnxruntime@fp32")
    reading = Reading(("logits",), "logits", "none", 0.5, None)
    cls = expectation.classify(c, reading, list(range(20)), (r64 + 0.1), r64, r32.astype(np.float64), samples,
                               "fp32", "test")
    report = ParityReport("m", "test", False, Inputs(0, 20, "0" * 64), {}, "torch@fp32", 0.5, (), (c,),
                          precision=(cls,))
    lines = [line for line in format_report(report).splitlines() if line.startswith("  onnxruntime@fp32 vs")]
    assert lines == [f"  onnxruntime@fp32 vs torch@fp32 [logits]: {cls.summary()}"], format_report(report)
