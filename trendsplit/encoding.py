"""The canonical input encodings, versions 1 to 4: trendline points -> float32 [C, L].

This is the contract the Swift bridge is fuzzed against, so every step is fixed to the
bit (see "Encoding v1" to "v4" in docs/trendsplit/encodings.md). v1 ([2, L]) and v2 are frozen: apps
ship them. v2 ([4, L]) adds the step to the next reading in absolute units (seconds, days),
which v1's division by the x-range hides. v3 ([7, L]) adds the log's own noise scale (the
median absolute residual of each reading from the line through its neighbours), and the
step in seconds and each residual divided by it, so a jump is read against the noise of the
watch and the eye that read it, and apart from the drift across a gap. v4 ([8, L]) adds the
log-odds of a break after each reading under the generator's own model, its habits unknown
(`trendsplit.posterior`): what the best detector of these logs would say. Every version checks
the same rules in the same order and each broken rule raises its own `EncodingError`
subclass with a stable code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real

import numpy as np

from trendsplit import posterior
from trendsplit.errors import (
    BadPoint,
    EncodingError,
    EncodingOverflow,
    NonFiniteValue,
    TooFewPoints,
    TooManyPoints,
    UnsortedX,
    UnsupportedEncodingVersion,
    ZeroXRange,
)

#: The version a caller gets when it names none: v1, what shipped apps send.
ENCODING_VERSION = 1
#: version -> channels: v1 = (X, Y); v2 = (X, Y, DY, DX); v3 = (X, Y, DY, DX, DYN, NU, RES); v4 = v3's and POST.
CHANNELS = {1: 2, 2: 4, 3: 7, 4: 8}
#: v2's step channels: clamp limits (exact in binary32 and float16) and the flush-to-zero
#: threshold, float16's smallest normal number, so every step value is a normal fp16 or zero.
DY_LIMIT = 100.0  # seconds: a step beyond 100 s between readings is a reset or a misread either way
DX_LIMIT = 100.0  # days: past 100 days the gap's exact length tells the model nothing more
STEP_FLUSH = 2.0**-14
#: v3's noise scale, seconds: clamped to [NU_MIN, NU_MAX] (powers of two, exact in float16), and
#: NU_NONE where no reading has two neighbours to be judged against (n = 2, or all x equal around it).
NU_MIN = 2.0**-3  # a dial is not read closer than this
NU_MAX = 2.0**5  # beyond it the log is noise
NU_NONE = 1.0  # the generator's default reading noise
DYN_LIMIT = 100.0  # noise scales (steps and residuals): 100 of them is a break whatever else is seen
#: Padded length: the model sees exactly this many positions.
L = 100
DEFAULT_THRESHOLD = 0.5

Points = Sequence[Sequence[float]] | np.ndarray


#: What `encode` accepts, deliberately: a list or tuple of points (each a list, tuple or 1-D
#: array of exactly two real numbers: int, float, numpy integer or float), or a numpy array
#: [n, 2] of an integer or float dtype up to 64 bits. Anything else (dicts, sets, iterators,
#: strings, tensors, bools, complex, datetimes, object arrays, np.matrix) is a `BadPoint`:
#: the contract is binary64 numbers in order, and a container that could reorder, drop or
#: reinterpret them is refused rather than guessed at.
SEQUENCES = (list, tuple)
_NUMERIC_KINDS = "iuf"


def channels_of(version: int) -> int:
    """The number of channels of an encoding version; `UnsupportedEncodingVersion` for any other."""
    if type(version) is not int or version not in CHANNELS:
        raise UnsupportedEncodingVersion(f"encoding version must be one of {sorted(CHANNELS)}, got {version!r}")
    return CHANNELS[version]


def steps(v: np.ndarray, limit: float | np.ndarray) -> np.ndarray:
    """v2's step channel in binary64: v[i+1] - v[i], clamped to +-limit, |d| < 2^-14 flushed to +0.0.

    `v` is [..., m]; the result is [..., m - 1] (the caller places it at positions 0..m-2).
    `limit` is a number or an array that broadcasts against [..., 1] (one limit per channel).
    """
    return step_rule(np.subtract(v[..., 1:], v[..., :-1]), limit)


def step_rule(d: np.ndarray, limit: float | np.ndarray) -> np.ndarray:
    """The step rule on binary64 values, in place: clamp to +-limit, then |d| < 2^-14 becomes +0.0."""
    np.clip(d, -limit, limit, out=d)
    d[np.abs(d) < STEP_FLUSH] = 0.0
    return d


def residuals(x: np.ndarray, y: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """v3's residual of each reading from the line through its neighbours, binary64 [B, w], and which
    readings are judged, bool [B, w], from sorted x, y [B, w] (`lengths` real points each).

    A reading is judged when it has two neighbours (0 < i < n - 1) and x[i+1] > x[i-1]; its residual
    is, in this order: w = (x[i] - x[i-1]) / (x[i+1] - x[i-1]); e = (y[i] - y[i-1]) - (y[i+1] - y[i-1]) * w.
    Within a straight segment e is reading noise only; a break or a misread makes it large.
    """
    b, width = x.shape
    e = np.zeros((b, width))
    judged = np.zeros((b, width), dtype=bool)
    if width >= 3:
        with np.errstate(all="ignore"):
            span = x[:, 2:] - x[:, :-2]
            w = (x[:, 1:-1] - x[:, :-2]) / span
            e[:, 1:-1] = (y[:, 1:-1] - y[:, :-2]) - (y[:, 2:] - y[:, :-2]) * w
        judged[:, 1:-1] = (np.arange(1, width - 1)[None, :] < (np.asarray(lengths)[:, None] - 1)) & (span > 0)
    return e, judged


def noise_scales(e: np.ndarray, judged: np.ndarray) -> np.ndarray:
    """v3's noise scale of each series, binary64 [B], from its `residuals`: the lower median of the
    judged |e| (sorted ascending, element (m - 1) // 2 of m; a NaN counted as +inf) clamped to
    [NU_MIN, NU_MAX]; NU_NONE when m = 0. About 0.87 sigma for normal reading noise (the line through
    the neighbours carries their noise too); the median ignores the residuals breaks and misreads make.
    """
    a = np.abs(e)
    a[np.isnan(a)] = np.inf
    a[~judged] = np.nan  # sorts after every judged value, +inf included
    a.sort(axis=1)
    m = judged.sum(axis=1)
    median = np.take_along_axis(a, np.maximum(m - 1, 0)[:, None] // 2, axis=1)[:, 0]
    return np.where(m > 0, np.clip(median, NU_MIN, NU_MAX), NU_NONE)


def noise_channels(x: np.ndarray, y: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """v3's channels 4-6 in binary64 for x, y [B, w]: the step to the next reading in noise scales
    ([B, w - 1]), the noise scale ([B]) and each judged reading's residual in noise scales ([B, w],
    +0.0 where not judged), the steps and residuals under the step rule with limit DYN_LIMIT."""
    e, judged = residuals(x, y, lengths)
    nu = noise_scales(e, judged)
    with np.errstate(all="ignore"):
        dyn = step_rule(np.subtract(y[:, 1:], y[:, :-1]) / nu[:, None], DYN_LIMIT)
        res = step_rule(np.where(judged, e / nu[:, None], 0.0), DYN_LIMIT)
    return dyn, nu, res


def _array(points: np.ndarray, what: str, ndim: int, index: int | None) -> np.ndarray:
    if type(points) is not np.ndarray:
        raise BadPoint(f"{what} must be a list, tuple or numpy array, got {type(points).__name__}", index=index)
    if points.dtype.kind not in _NUMERIC_KINDS or points.dtype.itemsize > 8:
        raise BadPoint(f"{what} array must hold integers or floats of at most 64 bits, got dtype {points.dtype}",
                       index=index)
    if points.ndim != ndim or points.shape[-1] != 2:
        shape = "[n, 2]" if ndim == 2 else "[B, M, 2]"
        raise BadPoint(f"{what} array must have shape {shape}, got {list(points.shape)}", index=index)
    with np.errstate(over="ignore"):
        return np.add(points, 0.0, dtype=np.float64)  # one pass: to binary64, -0.0 folded to +0.0


def as_points(points: Points, *, index: int | None = None) -> np.ndarray:
    """Convert to float64 [n, 2] with -0.0 folded to +0.0; raise `BadPoint` on anything else.

    See `SEQUENCES` for what is accepted and why.
    """
    if isinstance(points, np.ndarray):
        return _array(points, "points", 2, index)
    if type(points) not in SEQUENCES:
        raise BadPoint(f"points must be a list or tuple of (x, y) pairs, or an [n, 2] array; got "
                       f"{type(points).__name__}", index=index)
    fast = _fast_points(points)
    if fast is not None:
        return fast
    out = np.empty((len(points), 2), dtype=np.float64)
    for i, point in enumerate(points):
        if type(point) is np.ndarray and point.ndim == 1:
            point = point.tolist() if point.dtype.kind in _NUMERIC_KINDS and point.dtype.itemsize <= 8 else [point]
        if type(point) not in SEQUENCES or len(point) != 2:
            raise BadPoint(f"point {i} is not a list or tuple of exactly two numbers: {_short(point)}", index=index)
        for j, value in enumerate(point):
            if not _is_number(value):
                raise BadPoint(f"point {i} coordinate {j} is not a real number: {_short(value)}", index=index)
            try:
                out[i, j] = float(value)
            except OverflowError:  # an int beyond binary64's range is infinite there
                out[i, j] = np.inf if value > 0 else -np.inf
    return out + 0.0


def _is_number(value) -> bool:
    if isinstance(value, bool | np.bool_):
        return False
    if isinstance(value, np.generic):
        return value.dtype.kind in _NUMERIC_KINDS and value.dtype.itemsize <= 8
    return isinstance(value, int | float) or (isinstance(value, Real) and not isinstance(value, np.ndarray))


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_PLAIN_NUMBERS = (float, int, np.float64, np.float32, np.int64, np.int32)


def _fast_points(points) -> np.ndarray | None:
    """Well-formed pairs of plain numbers, converted at C speed; None sends the caller to the slow
    path, which names the offending point (numpy would silently read "2" or True as numbers)."""
    try:
        if not all(type(p) in SEQUENCES and len(p) == 2 and type(p[0]) in _PLAIN_NUMBERS
                   and type(p[1]) in _PLAIN_NUMBERS for p in points):
            return None
        return np.asarray(points, dtype=np.float64).reshape(len(points), 2) + 0.0
    except (TypeError, ValueError, OverflowError):
        return None


def _check_count(points: object, index: int | None) -> None:
    """`too_many_points`, the contract's first rule, from the container's length alone: a list,
    tuple or array of more than L points is refused before any point is read or converted, so
    ten million points cost nothing to refuse. (Anything else has no length to judge by, and
    `as_points` refuses it as a `bad_point`.)"""
    sized = type(points) in SEQUENCES or (type(points) is np.ndarray and points.ndim >= 1)
    if sized and len(points) > L:
        raise TooManyPoints(f"at most {L} points fit the model, got {len(points)}", index=index)


def _check_rules(xy: np.ndarray, index: int | None) -> None:
    """The rules after `bad_point`, in the contract's order."""
    n = len(xy)
    if n < 2:
        raise TooFewPoints(f"need at least 2 points, got {n}", index=index)
    bad = ~np.isfinite(xy)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise NonFiniteValue(f"point {i} {'xy'[j]} is {float(xy[i, j])!r}", index=index)
    x = xy[:, 0]
    drops = np.flatnonzero(x[1:] < x[:-1])
    if drops.size:
        i = int(drops[0])
        raise UnsortedX(f"x decreases at point {i + 1}: {float(x[i])!r} -> {float(x[i + 1])!r}",
                        index=index)
    if x.max() == x.min():
        raise ZeroXRange(f"all {n} points share x = {float(x[0])!r}", index=index)


def posterior_channel(xy: np.ndarray) -> np.ndarray:
    """v4's channel at positions 0..n-2 for one series [n, 2] that keeps the rules: the log-odds of a break
    after each reading (`posterior.break_log_odds`, -0.0 read as +0.0 as Swift folds it), rounded to float32."""
    return posterior.break_log_odds(np.asarray(xy, dtype=np.float64) + 0.0).astype(np.float32)


def encode(points: Points, version: int = ENCODING_VERSION) -> np.ndarray:
    """Encode one series to float32 [C, L] (C = 2 for v1, 4 for v2); binary64 maths in the
    contract's order, one rounding."""
    width = channels_of(version)
    _check_count(points, None)
    xy = as_points(points)
    _check_rules(xy, None)
    n = len(xy)
    x, y = xy[:, 0], xy[:, 1]
    min_x, max_x, min_y, max_y = x.min(), x.max(), y.min(), y.max()
    with np.errstate(all="ignore"):
        r = max_x - min_x
        s = ((max_y - min_y) / r) / 2.0
        ex = (x - min_x) / r - 0.5
        ey = (y - min_y) / r - s
        y_range = max_y - min_y
        out = np.zeros((width, L), dtype=np.float32)
        out[0, :n] = ex.astype(np.float32)
        out[1, :n] = ey.astype(np.float32)
        if version >= 2:  # positions 0..n-2; the last reading and the padding stay +0.0
            out[2, :n - 1] = steps(y, DY_LIMIT).astype(np.float32)
            out[3, :n - 1] = steps(x, DX_LIMIT).astype(np.float32)
        if version >= 3:
            dyn, nu, res = noise_channels(x[None], y[None], np.array([n]))
            out[4, :n - 1] = dyn[0].astype(np.float32)
            out[5, :n] = np.float32(nu[0])
            out[6, :n] = res[0].astype(np.float32)
        if version == 4:
            out[7, :n - 1] = posterior_channel(xy)
    bad = ~np.isfinite(out[:, :n])
    if bad.any():
        c, i = np.argwhere(bad)[0]
        wide = (ex, ey)[c][i]
        raise EncodingOverflow(
            f"encoded {'xy'[c]}[{i}] = {float(wide)!r} (binary64) is not finite in float32; "
            f"x range {float(r)!r}, y range {float(y_range)!r}")
    return out


@dataclass(frozen=True)
class BatchEncoding:
    """Vectorised encoder output: `values` [B, C, L] float32 (zeros where `codes` is set)."""

    values: np.ndarray
    codes: np.ndarray  # object array of error codes, "" where the example encoded

    @property
    def ok(self) -> np.ndarray:
        return self.codes == ""


def encode_padded(xy: np.ndarray, lengths: np.ndarray, version: int = ENCODING_VERSION) -> BatchEncoding:
    """Encode B series at once from float64 [B, M, 2] (rows past `lengths` ignored).

    Never raises for a bad example: its error code goes in `codes`, so fuzzing can compare
    codes. Applies the same rules, order and arithmetic as `encode`, in few numpy passes:
    the rules come from per-series scalars (x[0], x[n-1], min and max y), not whole arrays.
    """
    width = channels_of(version)
    xy = _padded_array(xy)
    lengths = _lengths(lengths, xy.shape[:2])
    b = len(lengths)
    counted = (lengths >= 2) & (lengths <= L)
    w = int(lengths.max(initial=0, where=counted))  # positions past w are padding for every counted series
    enc = np.empty((b, width, L), dtype=np.float32)
    enc[:, :, w:] = 0.0
    if w == 0:
        return BatchEncoding(values=enc, codes=_CODES[np.where(lengths < 2, 1, 2)])
    # Channels first, so each step below is one contiguous pass over both channels.
    ch = np.empty((b, 2, w))
    np.copyto(ch, xy[:, :w].transpose(0, 2, 1))
    ragged = bool((counted & (lengths < w)).any())
    if ragged:  # the padding repeats each series' last reading: min, max and the order check ignore it
        pad = np.arange(w) >= lengths[:, None]
        last = ch[np.arange(b), :, np.clip(lengths - 1, 0, w - 1)]
        np.copyto(ch, last[:, :, None], where=pad[:, None, :])
    x, y = ch[:, 0], ch[:, 1]
    with np.errstate(all="ignore"):
        low, r, shift, err = _rules(x, y, lengths, counted)
        if version >= 2:  # before the channels are overwritten; the padding repeats, so its steps are 0
            enc[:, 3:1:-1, :w - 1] = steps(ch, _STEP_LIMITS)  # x's steps go to channel 3, y's to 2
            enc[:, 2:, w - 1] = 0.0
        if version >= 3:
            dyn, nu, res = noise_channels(x, y, lengths)
            enc[:, 4, :w - 1] = dyn
            enc[:, 5, :w] = nu[:, None]
            enc[:, 6, :w] = res
        np.subtract(ch, low, out=ch)  # binary64, in the contract's order, rounded once
        np.divide(ch, r, out=ch)
        np.subtract(ch, shift, out=ch)
        enc[:, :2, :w] = ch
    if ragged:
        np.copyto(enc[:, :2, :w], np.float32(0.0), where=pad[:, None, :])
        if version >= 3:
            np.copyto(enc[:, 5, :w], np.float32(0.0), where=pad)
    if version == 4:  # one series at a time, where the rules hold (the others are zeroed below)
        enc[:, 7, :w] = 0.0
        for k in np.flatnonzero(err == 0):
            enc[k, 7, : lengths[k] - 1] = posterior_channel(xy[k, : lengths[k]])
    bad = np.flatnonzero(err)
    if bad.size:
        enc[bad] = 0.0
    return BatchEncoding(values=enc, codes=_CODES[err])


#: Per channel of `encode_padded`'s [B, (x, y), w] array.
_STEP_LIMITS = np.array([[DX_LIMIT], [DY_LIMIT]])
#: Index 0 is a series that encoded, then the codes of the rules `encode_padded` checks, in order.
_CODES = np.array(["", TooFewPoints.code, TooManyPoints.code, NonFiniteValue.code, UnsortedX.code,
                   ZeroXRange.code, EncodingOverflow.code], dtype=object)


def _rules(x: np.ndarray, y: np.ndarray, lengths: np.ndarray,
           counted: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each series' offsets, range and shifts ([B, 2, 1], [B, 1, 1], [B, 2, 1]) and its rule index.

    `x`, `y` are [B, w] with the padding repeating the last reading. Scalars decide every rule:
    - sorted x (every step >= 0, false at a NaN) lies in [x[0], x[-1]], so min and max x are
      those two and x is finite iff they are; min and max y are finite iff all of y is (a NaN
      propagates). Only a counted, unsorted series needs a whole-row finiteness check.
    - each step of the arithmetic is monotone in the value, so a series' encoded values lie
      between those of its extreme points: X in [-0.5, 0.5] when r is finite, Y in
      [-s, q - s] with q = y range / r and s = q / 2, so q - s = s (halving is exact where it
      could matter). A series overflows iff r is infinite or s rounds past binary32's max.
    - -0.0 is not folded here (a pass over the input): the only place a -0.0 input could
      survive to the output is Y = -0.0 - s with s = +0.0, and subtracting s = -0.0
      instead (adding +0.0) gives the folded input's +0.0 and changes no other value.
    """
    b = len(x)
    ends = np.empty((b, 2, 2))  # [series, (x, y), (min, max)]
    ends[:, 0, 0], ends[:, 0, 1] = x[:, 0], x[:, -1]
    y.min(axis=1, out=ends[:, 1, 0])
    y.max(axis=1, out=ends[:, 1, 1])
    steps_ok = x[:, 1:] >= x[:, :-1]
    in_order = np.ones(b, dtype=bool) if steps_ok.all() else steps_ok.all(axis=1)  # one flat pass when sorted
    finite = np.isfinite(ends).all(axis=(1, 2))
    unsure = np.flatnonzero(counted & finite & ~in_order)  # a NaN inside x breaks the order
    if unsure.size:
        finite[unsure] = np.isfinite(x[unsure]).all(axis=1)
    low = ends[:, :, :1]
    span = ends[:, :, 1] - ends[:, :, 0]
    r = span[:, :1, None]
    s = (span[:, 1] / span[:, 0]) / 2.0
    overflow = ~np.isfinite(span[:, 0]) | ~np.isfinite(s.astype(np.float32))
    rules = (lengths < 2, lengths > L, ~finite, ~in_order, span[:, 0] == 0, overflow)
    err = np.zeros(b, dtype=np.int8)
    if not (counted & finite & in_order & ~rules[4] & ~overflow).all():
        for k in range(len(rules), 0, -1):
            err[rules[k - 1]] = k  # the first rule a series breaks is written last
    shift = np.empty((b, 2, 1))
    shift[:, 0, 0] = 0.5
    shift[:, 1, 0] = np.where(s == 0.0, -0.0, s)
    return low, r, shift, err


def _padded_array(xy) -> np.ndarray:
    """float64 [B, M, 2]; binary64 input is used as it is (no copy), anything else as `_array` says."""
    if type(xy) is np.ndarray and xy.dtype == np.float64 and xy.ndim == 3 and xy.shape[-1] == 2:
        return xy
    return _array(xy, "padded batch", 3, None)


def _lengths(lengths, shape: tuple[int, int]) -> np.ndarray:
    """B whole numbers in [0, M]: not floats (2.99 is not 2), not bools, nothing beyond the rows."""
    b, m = shape
    if isinstance(lengths, SEQUENCES) and all(isinstance(v, int) and not isinstance(v, bool) for v in lengths):
        lengths = np.array(lengths, dtype=object)
    elif type(lengths) is np.ndarray and lengths.dtype.kind in "iu":
        pass
    else:
        raise BadPoint("lengths must be a list, tuple or integer array of whole numbers, got "
                       f"{_short(lengths) if not isinstance(lengths, np.ndarray) else 'dtype ' + str(lengths.dtype)}")
    if lengths.shape != (b,):
        raise BadPoint(f"padded batch of {b} series needs {b} lengths, got shape {list(lengths.shape)}")
    if b:
        low, high = lengths.min(), lengths.max()
        if low < 0 or high > m:
            raise BadPoint(f"lengths must lie in [0, {m}] (the rows given), got {low} .. {high}")
    return np.asarray(lengths, dtype=np.int64)


def encode_batch(examples: Sequence[Points], version: int = ENCODING_VERSION) -> np.ndarray:
    """Encode many series to float32 [B, C, L]; raise the first example's error, naming its index.

    `examples` is a list or tuple of series (each as `encode` accepts), or an [B, n, 2] array.
    """
    channels_of(version)
    if type(examples) is np.ndarray and examples.ndim == 3:
        examples = list(examples)
    if type(examples) not in SEQUENCES:
        raise BadPoint(f"examples must be a list or tuple of series, got {type(examples).__name__}")
    arrays = []
    for k, p in enumerate(examples):
        try:
            _check_count(p, k)
            arrays.append(as_points(p, index=k))
        except EncodingError:
            _encode_all(arrays, version)  # an earlier example's error (a later rule) comes first
            raise
    return _encode_all(arrays, version)


def _encode_all(arrays: list[np.ndarray], version: int) -> np.ndarray:
    """float64 [n, 2] series (at most L points each) through `encode_padded`; the first one's error, raised."""
    lengths = np.array([len(a) for a in arrays], dtype=np.int64)
    padded = np.zeros((len(arrays), L, 2), dtype=np.float64)
    for k, a in enumerate(arrays):
        padded[k, : len(a)] = a
    batch = encode_padded(padded, lengths, version)
    if not batch.ok.all():
        k = int(np.flatnonzero(~batch.ok)[0])
        try:  # re-run the single encoder for its detailed message
            encode(arrays[k], version)
        except EncodingError as err:
            raise type(err)(err.detail, index=k) from None
        raise AssertionError(f"batch and single encoder disagree on example {k}")
    return batch.values


def decode(probs: np.ndarray, n: int, threshold: float = DEFAULT_THRESHOLD) -> list[int]:
    """Split indices of one series: `i < n - 1` with `probs[i] > threshold`, ascending.

    The threshold is compared as a float32, as the app's `Float` threshold is (0.41 is not a
    float32: both sides round it the same way)."""
    probs = np.asarray(probs)
    if probs.shape != (L,):
        raise ValueError(f"wrong shape: probabilities must be [{L}], got {list(probs.shape)}")
    return [int(i) for i in np.flatnonzero(probs[: max(n - 1, 0)] > np.float32(threshold))]


def decision_mask(lengths: np.ndarray) -> np.ndarray:
    """bool [B, L]: the positions whose decision an app reads (`i < n - 1`)."""
    return np.arange(L)[None, :] < (np.asarray(lengths)[:, None] - 1)
