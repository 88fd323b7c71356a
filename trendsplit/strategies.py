"""Hypothesis strategies for encoder inputs: realistic watch logs and adversarial inputs.

Shared by the tests (`tests/trendsplit/strategies.py` re-exports them) and the fuzz benchmarks.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from trendsplit.encoding import L

finite = st.floats(allow_nan=False, allow_infinity=False)
non_finite = st.sampled_from([float("nan"), float("inf"), float("-inf")])
positive_scale = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False)
power_of_two = st.integers(-20, 20).map(lambda k: 2.0**k)
offset = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@st.composite
def watch_logs(draw, min_points: int = 2, max_points: int = L) -> np.ndarray:
    """A plausible log: irregular times (days, at an epoch-like or small origin), drift, noise, resets."""
    n = draw(st.integers(min_points, max_points))
    origin = draw(st.sampled_from([0.0, 19_000.0, 20_412.5, -3.0]))
    gaps = draw(st.lists(st.floats(1 / 1440, 5.0), min_size=n - 1, max_size=n - 1))
    x = origin + np.concatenate([[0.0], np.cumsum(gaps)])
    drift = draw(st.floats(-30.0, 30.0))
    y0 = draw(st.floats(-60.0, 60.0))
    noise = np.array(draw(st.lists(st.floats(-2.0, 2.0), min_size=n, max_size=n)))
    y = y0 + drift * (x - x[0]) + noise
    if n > 3 and draw(st.booleans()):
        cut = draw(st.integers(1, n - 2))
        y[cut:] -= y[cut] - draw(st.floats(-2.0, 2.0))  # reset to correct time
    return np.column_stack([x, y])


@st.composite
def sorted_points(draw, min_points: int = 2, max_points: int = L,
                  elements=finite) -> np.ndarray:
    """Any finite values, x sorted (duplicates allowed): valid unless the range is zero or huge."""
    n = draw(st.integers(min_points, max_points))
    x = sorted(draw(st.lists(elements, min_size=n, max_size=n)))
    y = draw(st.lists(elements, min_size=n, max_size=n))
    return np.column_stack([np.array(x, dtype=np.float64), np.array(y, dtype=np.float64)])


@st.composite
def any_points(draw) -> np.ndarray:
    """Anything the encoder may be handed as an [n, 2] array: 0-150 points, NaN, inf, unsorted."""
    n = draw(st.integers(0, 150))
    values = st.one_of(finite, non_finite, st.sampled_from([0.0, -0.0, 5e-324, 1e308]))
    flat = draw(st.lists(values, min_size=2 * n, max_size=2 * n))
    xy = np.array(flat, dtype=np.float64).reshape(n, 2)
    if n and draw(st.booleans()):
        xy[:, 0] = np.sort(xy[:, 0])
    return xy


@st.composite
def epoch_logs(draw) -> np.ndarray:
    """Watch logs with x in epoch seconds or epoch days."""
    points = draw(watch_logs())
    unit = draw(st.sampled_from([86_400.0, 1.0]))
    return points * np.array([unit, 1.0]) + np.array([draw(st.sampled_from([1.7e9, 19_700.0])), 0.0])


@st.composite
def extreme_points(draw) -> np.ndarray:
    """Subnormals, values near the float64 limits, tiny and huge ranges."""
    edge = st.sampled_from([5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
                            -1.7976931348623157e308, 1e-300, 1e300, 0.0, -0.0, 1.0])
    return draw(sorted_points(min_points=0, max_points=12, elements=st.one_of(edge, finite)))


def differential_cases() -> st.SearchStrategy[np.ndarray]:
    """One series, drawn point by point, for the per-example (JSON lines) Swift differential."""
    return st.one_of(watch_logs(), epoch_logs(), extreme_points(), any_points(),
                     sorted_points(min_points=0, max_points=150))

# -- frames: many series per example, for the batched Swift differential ----------------------
#
# A Hypothesis draw costs tens of microseconds, so a series drawn point by point (the strategies
# above) costs milliseconds. A frame instead draws a count and then one fixed-size byte record
# per series; `build_frame` turns the records into points with numpy, all series at once. Every
# byte shrinks towards zero, which the layout maps to the simplest series, and each series
# depends on its own record only (never on the others in its frame), so deleting records while
# shrinking leaves the rest unchanged.

RECORD = 9  # bytes: family, size, size band, seed (4), break, break position
FAMILIES = ("watch log (days)", "watch log (epoch days)", "watch log (epoch seconds)", "readings seconds apart",
            "wild magnitudes", "raw bit patterns", "edge values")
EDGES = np.array([0.0, -0.0, 1.0, -1.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
                  -1.7976931348623157e308, 1e-300, 1e300, 0.5, 3.0, 1e-12, 86_400.0, 1.7e9])
MAX_POINTS = 150  # one record in eight asks for L+1..150 points: too many for the model
_GOLDEN, _M1, _M2 = (np.uint64(v) for v in (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB))


def _bits(seeds: np.ndarray, first: int, count: int, width: int) -> np.ndarray:
    """uint64 [count, B, width]: splitmix64 of (seed, stream, position), streams first..first+count-1.

    Counter-based, so a series' values depend on its own seed only, never on its frame.
    """
    streams = (np.arange(first, first + count, dtype=np.uint64) << np.uint64(40))[:, None, None]
    z = seeds[None, :, None] * _GOLDEN + streams + np.arange(width, dtype=np.uint64)[None, None, :]
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def _uniform(seeds: np.ndarray, first: int, count: int, width: int) -> np.ndarray:
    return (_bits(seeds, first, count, width) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _normal(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.sqrt(-2.0 * np.log1p(-u)) * np.cos(2.0 * np.pi * v)


def _sorted_within(values: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Sort each row's first n values (NaN last, in their order); the padding cannot move into a series."""
    pad = np.arange(values.shape[1])[None, :] >= n[:, None]
    return np.sort(np.where(pad, np.nan, values), axis=1, kind="stable")


def _watch_logs(seeds: np.ndarray, family: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Families 0-3: irregular gaps, drift, noise and resets, at four origins and units."""
    u = _uniform(seeds, 0, 1, 5)[0]
    origin = np.choose(family, [np.zeros(len(seeds)), 19_000 + 2_000 * u[:, 0], 1.6e9 + 3e8 * u[:, 0],
                                2e4 * u[:, 0]])
    unit = np.where(family == 2, 86_400.0, 1.0)
    flags, steps, noise = _bits(seeds, 1, 3, m)
    low = flags & np.uint64(0xFFFF_FFFF)  # two 32-bit draws per value: a long gap (40%), a reset (1 in 15)
    gap = np.where(family == 3, 1e-5, 0.25)[:, None] * np.where(low < np.uint64(0.6 * 2**32), 1.0, 6.0)
    steps = -np.log1p(-(steps >> np.uint64(11)).astype(np.float64) * 2.0**-53) * gap
    steps[:, 0] = 0.0
    days = np.cumsum(steps, axis=1)
    x = origin[:, None] + days * unit[:, None]
    noise = ((noise >> np.uint64(11)).astype(np.float64) * 2.0**-53 - 0.5) * 12**0.5  # uniform, sd 1
    resets = np.cumsum((flags >> np.uint64(32)) < np.uint64(2**32 // 15), axis=1)
    drift, jump = 8 * _normal(u[:, 1], u[:, 2]), 20 * _normal(u[:, 3], u[:, 4])
    return x, drift[:, None] * days + noise - resets * jump[:, None]


def build_frame(records: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """float64 [B, M, 2] (zero past each length) and lengths [B] from `RECORD`-byte records.

    Byte 0 picks one of `FAMILIES`; bytes 1-2 the number of points (0..L, or L+1..150 when byte 2
    is 224 or more); bytes 3-6 the seed of its values; byte 7 a deliberate break (none below 200,
    then a non-finite value, x[0] after x[-1], one x for all, a 1e-12 x range, a repeated x)
    and byte 8 where it goes. All-zero bytes give an empty series.
    """
    rec = np.frombuffer(b"".join(records), dtype=np.uint8).reshape(-1, RECORD).astype(np.int64)
    family, kind, where = rec[:, 0] % len(FAMILIES), rec[:, 7], rec[:, 8]
    n = np.where(rec[:, 2] < 224, rec[:, 1] % (L + 1), L + 1 + rec[:, 1] % (MAX_POINTS - L))
    seeds = (rec[:, 3] | rec[:, 4] << 8 | rec[:, 5] << 16 | rec[:, 6] << 24).astype(np.uint64)
    b, m = len(rec), max(int(n.max(initial=0)), 1)
    x, y = np.empty((b, m)), np.empty((b, m))
    with np.errstate(all="ignore"):
        log = family < 4
        x[log], y[log] = _watch_logs(seeds[log], family[log], m)
        # family 4: sorted x and any y at magnitudes 10^-300..10^300
        wild = family == 4
        mags = 10.0 ** np.floor(-300 + 600 * _uniform(seeds[wild], 10, 1, 2)[0])
        u = _uniform(seeds[wild], 11, 4, m)
        x[wild] = _sorted_within(_normal(u[0], u[1]), n[wild]) * mags[:, :1]
        y[wild] = _normal(u[2], u[3]) * mags[:, 1:]
        # family 5: raw binary64 bit patterns (NaN, infinities, subnormals), x sorted for odd seeds
        raw = family == 5
        x[raw], y[raw] = _bits(seeds[raw], 15, 2, m).view(np.float64)
        ordered = raw & (seeds % np.uint64(2) == 1)
        x[ordered] = _sorted_within(x[ordered], n[ordered])
        # family 6: values from EDGES, x sorted
        edge = family == 6
        pick = EDGES[_bits(seeds[edge], 17, 2, m) % np.uint64(len(EDGES))]
        x[edge], y[edge] = _sorted_within(pick[0], n[edge]), pick[1]
        xy = np.stack([x, y], axis=2)
        _break(xy, n, kind, where)
    xy[np.arange(m)[None, :] >= n[:, None]] = 0.0
    return xy, n


def _break(xy: np.ndarray, n: np.ndarray, kind: np.ndarray, where: np.ndarray) -> None:
    """Apply byte 7's deliberate break in place (series with no points are left alone)."""
    at = where % np.maximum(n, 1)
    has = n > 0
    rows = np.flatnonzero(has & (kind >= 200) & (kind < 210))
    xy[rows, at[rows], kind[rows] % 2] = np.array([np.nan, np.inf, -np.inf])[where[rows] % 3]
    rows = np.flatnonzero(has & (kind >= 210) & (kind < 220))
    xy[rows, 0, 0] = xy[rows, n[rows] - 1, 0] + 1.0
    flat = has & (kind >= 220) & (kind < 230)
    xy[flat, :, 0] = xy[flat, :1, 0]
    tiny = has & (kind >= 230) & (kind < 240)
    xy[tiny, :, 0] = xy[tiny, :1, 0] + (xy[tiny, :, 0] - xy[tiny, :1, 0]) * 1e-12
    rows = np.flatnonzero((kind >= 240) & (at + 1 < n))
    xy[rows, at[rows] + 1, 0] = xy[rows, at[rows], 0]


@st.composite
def frames(draw, max_series: int = 128) -> list[bytes]:
    """1..max_series `RECORD`-byte records (pass them to `build_frame`).

    A count, then that many records: one draw per series where `st.lists` would average six
    series per frame. Hypothesis's shrinker knows this size-then-collection pattern (it lowers
    the count while deleting a record), so a failing frame still shrinks to one record.
    """
    count = draw(st.integers(1, max_series))
    record = st.binary(min_size=RECORD, max_size=RECORD)
    return [draw(record) for _ in range(count)]
