"""`trendsplit.portable_math`: the C library's exp and log to within a few ulps, and the same bits everywhere."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp as scipy_logsumexp

from trendsplit import portable_math as pm


def _ulps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a - b) / np.spacing(np.abs(b))


def test_exp_is_within_two_ulps_of_the_c_library_over_binary64s_normal_range():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-708.0, 709.0, 100_000), rng.uniform(-1.0, 1.0, 100_000),
                        [0.0, -1e-300, 1e-300, -708.0, 709.0]])
    assert _ulps(pm.exp(x), np.exp(x)).max() <= 2.0


def test_exp_flushes_what_would_be_subnormal_to_zero():
    assert pm.exp(-708.0) > 2.2250738585072014e-308
    assert pm.exp(np.nextafter(-708.0, -np.inf)) == 0.0 == pm.exp(-745.0)


def test_log_is_within_two_ulps_of_the_c_library_from_subnormals_to_the_largest_double():
    rng = np.random.default_rng(1)
    x = np.concatenate([np.exp(rng.uniform(-700.0, 700.0, 100_000)), rng.uniform(0.5, 2.0, 100_000),
                        [5e-324, 2.2e-308, 1.0 + 2**-52, 1.7e308]])
    assert _ulps(pm.log(x), np.log(x)).max() <= 2.0
    assert pm.log(1.0) == 0.0


@pytest.mark.parametrize(("fn", "x", "expected"), [
    (pm.exp, [-np.inf, -800.0, np.inf, 800.0, np.nan, 0.0], [0.0, 0.0, np.inf, np.inf, np.nan, 1.0]),
    (pm.log, [0.0, -1.0, np.inf, -np.inf, np.nan], [-np.inf, np.nan, np.inf, np.nan, np.nan]),
], ids=["exp", "log"])
def test_special_values_are_the_c_librarys(fn, x, expected):
    np.testing.assert_array_equal(fn(np.array(x)), np.array(expected))


def test_logsumexp_agrees_with_scipy_and_keeps_all_minus_infinity_rows():
    rng = np.random.default_rng(2)
    a = rng.normal(0.0, 300.0, (50, 40))
    a[3] = -np.inf
    a[5, :20] = -np.inf
    ours, theirs = pm.logsumexp(a, axis=1), scipy_logsumexp(a, axis=1)
    assert ours[3] == -np.inf
    finite = np.isfinite(theirs)
    np.testing.assert_allclose(ours[finite], theirs[finite], rtol=1e-14, atol=1e-12)


def test_logsumexp_sums_in_index_order_whatever_the_axis():
    """The same terms give the same bits along either axis: one order, whatever numpy's reductions do."""
    a = np.random.default_rng(3).normal(0.0, 5.0, (7, 1000))
    np.testing.assert_array_equal(pm.logsumexp(a, axis=1), pm.logsumexp(np.ascontiguousarray(a.T), axis=0))
