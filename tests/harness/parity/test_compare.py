"""compare(): the figures it reports and how it judges them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.parity.compare import compare, ulp_distance
from harness.parity.tolerances import FP16, FP32


def probs(seed=0, shape=(4, 10)):
    return np.random.default_rng(seed).uniform(0, 1, shape).astype(np.float32)


def test_identical_outputs_pass_with_zero_error():
    p = probs()
    c = compare(p, p.copy(), policy=FP32, threshold=0.5)
    assert c and c.max_abs == 0 and c.max_ulp == 0 and c.decision_agreement == 1.0
    assert c.decisions_compared + c.near_threshold == p.size


def test_error_just_inside_and_outside_atol():
    p = np.array([[0.2] * 4, [0.3] * 4], dtype=np.float32)  # two cases: outputs that vary with the input
    inside = p + np.float32(FP32.atol * 0.5)
    outside = p + np.float32(FP32.atol * 3)
    assert compare(p, inside, policy=FP32, threshold=0.5)
    c = compare(p, outside, policy=FP32, threshold=0.5)
    assert not c and not c.numeric_ok and c.decisions_ok and c.numeric_violations == 8


def test_worst_element_is_located():
    p = probs()
    q = p.copy()
    q[2, 7] += 0.25
    c = compare(p, q, policy=FP16, threshold=0.5)
    assert c.worst == (2, 7)
    assert c.worst_reference == pytest.approx(p[2, 7]) and c.worst_candidate == q[2, 7]
    assert c.max_abs == pytest.approx(0.25, rel=1e-6)


def test_a_flipped_decision_fails_even_within_numeric_tolerance():
    policy = FP32
    p = np.array([[0.5 + 3 * policy.decision_margin, 0.1]], dtype=np.float32)
    q = p.copy()
    q[0, 0] = 0.49
    c = compare(p, q, policy=policy, threshold=0.5)
    assert not c.decisions_ok and c.decision_agreement == 0.5
    assert c.flips[0].case == 0 and c.flips[0].position == 0



def test_a_flip_in_an_output_of_several_axes_names_its_position_in_the_flattened_case():
    """A (None, T, C) output decided by threshold: the flip at token 1, channel 2 is position 1 * 4 + 2 = 6 (it was
    named by its last index alone, 2, the position of another value, which the precision estimate then read)."""
    p = np.full((3, 2, 4), 0.2, dtype=np.float32)
    p[:, 0] = 0.1  # outputs that vary
    p[1, 1, 2] = 0.9
    q = p.copy()
    q[1, 1, 2] = 0.1
    c = compare(p, q, policy=FP32, threshold=0.5)
    (flip,) = c.flips
    assert (flip.case, flip.position) == (1, 6)
    assert p[flip.case].reshape(-1)[flip.position] == flip.reference

def test_near_threshold_flips_are_counted_not_judged():
    p = np.array([[0.5 + FP16.decision_margin / 4, 0.9], [0.2, 0.1]], dtype=np.float32)
    q = np.array([[0.5 - FP16.decision_margin / 4, 0.9], [0.2, 0.1]], dtype=np.float32)
    c = compare(p, q, policy=FP16, threshold=0.5)
    assert c and c.near_threshold == 1 and c.near_threshold_flips == 1
    assert c.decisions_compared == 3 and len(c.near_flips) == 1


def test_decision_mask_excludes_positions_the_app_ignores():
    p = np.array([[0.9, 0.9]], dtype=np.float32)
    q = np.array([[0.9, 0.1]], dtype=np.float32)
    c = compare(p, q, policy=FP16, threshold=0.5, decision_mask=np.array([[True, False]]))
    assert c.decisions_ok and not c.numeric_ok


def test_nan_in_candidate_fails():
    p = probs()
    q = p.copy()
    q[0, 0] = np.nan
    c = compare(p, q, policy=FP16, threshold=0.5)
    assert not c and c.non_finite == 1 and c.max_abs == float("inf")


def test_input_scaled_allowance_grows_with_input_magnitude():
    p = np.full((2, 3), 0.3, dtype=np.float32)
    q = p + np.float32(5 * FP32.atol)
    inputs = np.array([[1.0, 100.0], [0.5, 0.1]])
    c = compare(p, q, policy=FP32, threshold=0.5, inputs=inputs)
    assert c.numeric_violations == 3  # only the second case (scale 1) is out
    assert c.max_input_scale == 100.0


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="wrong shape"):
        compare(probs(shape=(2, 3)), probs(shape=(3, 2)), policy=FP32, threshold=0.5)


def test_result_serialises_to_json():
    c = compare(probs(0), probs(1), policy=FP16, threshold=0.5)
    d = json.loads(json.dumps(c.to_dict()))
    assert d["passed"] is False and d["policy"]["name"] == "fp16"
    assert d["decisions_compared"] + d["near_threshold"] == 40


@given(st.floats(float(np.finfo(np.float32).tiny), 2.0**100, width=32), st.integers(0, 1000))
def test_ulp_distance_counts_representable_steps(x, k):
    a = np.float32(x)
    b = a
    for _ in range(k % 50):
        b = np.nextafter(b, np.float32(np.inf))
    assert ulp_distance(np.array([a]), np.array([b]))[0] == k % 50


def test_ulp_distance_across_zero():
    tiny = np.float32(np.finfo(np.float32).smallest_subnormal)
    assert ulp_distance(np.array([-tiny]), np.array([tiny]))[0] == 2
    assert ulp_distance(np.array([-0.0]), np.array([0.0]))[0] == 0
