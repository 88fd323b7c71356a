"""The convolution both conv and conv_transpose run, in a channels-last, BLAS-friendly form.

The input is read channels-last (free when the previous op left its memory that way, as
conv's own output is) and each output position's window is gathered in (channel, tap) order
(the padding's zeros written once) into one matrix multiplied by the weight matrix: the same
sums, in the same order, as a plain im2col over padded channels-first windows, without the
moves between layouts. A 1-D convolution of many channels (more than one tap, one group, finite
weights) with float32 sums and no Monte Carlo noise gathers nothing:
each tap's rows are a view of the input, multiplied by that tap's weights and added in a fixed
order (float32 sums of another order, as any runtime's). Either way each sample's product is its
own BLAS call, so a sample's result never depends on the batch, the chunks or the threads. The
result is channels-first in shape and channels-last in memory, which elementwise ops keep and
the next conv reads as it is.
"""

from __future__ import annotations

import math
import os
import queue
import threading
from collections.abc import Callable, Iterable

import numpy as np

from harness.mil.ops._common import f32, round16, windows

#: Bytes of a chunk's windows and products, gathered, multiplied and finished (bias, the next elementwise
#: op) a few samples at a time, so they stay in the core's L2 cache from the gather to the last write. The
#: products count: a first layer's are larger than its windows (2 channels in, 32 out). Chosen by the bench
#: (trendsplit at batch 256 among every backend, 7 rounds, two runs each): the fp32 profile at 1.95x and
#: 1.97x onnxruntime, against 2.03x and 2.02x counting the windows alone, 2.17x and 2.06x at 512 KB. Each
#: sample's matmul is its own BLAS call whatever the chunk, so the size moves the time, never the results.
_CHUNK_BYTES = 1 << 20

#: Input channels from which a 1-D convolution with float32 sums is summed tap by tap (`Convolution._tap_sums`):
#: each tap's rows are a view of the input, so nothing is gathered. Measured per sample on one thread (k=5, 32
#: outputs): 23.4 against 20.5 us at 32 channels, 11.9 against 13.3 us at 16, 2.2 against 6.9 us at 2.
TAP_SUMS_FROM = 32


def _threads() -> int:
    """Two threads when there are two cores, one when the user asked runtimes for one: `OMP_NUM_THREADS`
    (as torch, onnxruntime and BLAS read it; its first level, "1,2" included). A value OpenMP would not take
    is left to the runtimes that read it, as they leave it: the default holds."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    first = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip(" \t")
    return min(2, cores, int(first) if first.isascii() and first.isdigit() and int(first) > 0 else 2)


#: Threads a convolution of two chunks or more runs on, each taking the next chunk: each sample's product is
#: the same BLAS call on either thread, so results do not change with it.
THREADS = _threads()


class _Helper:
    """One thread kept for large convolutions' second thread (starting a thread per call cost more than some
    layers' share of it); started on first use, and again in a forked child, which has none of its parent's
    threads."""

    def __init__(self):
        self._reset()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._tasks: queue.SimpleQueue | None = None

    def run(self, task: Callable[[], None]) -> Callable[[], BaseException | None]:
        """Start `task` on the helper thread; the returned call waits for it and returns its exception."""
        with self._lock:
            if self._tasks is None:
                self._tasks = queue.SimpleQueue()
                threading.Thread(target=self._serve, args=(self._tasks,), name="harness-conv", daemon=True).start()
        done: queue.SimpleQueue = queue.SimpleQueue()
        self._tasks.put((task, done))
        return done.get

    @staticmethod
    def _serve(tasks: queue.SimpleQueue) -> None:
        while True:
            task, done = tasks.get()
            try:
                task()
            except BaseException as err:  # noqa: BLE001 - handed to the caller's thread
                done.put(err)
            else:
                done.put(None)


_helper = _Helper()


def _in_two(first, second) -> None:
    """Run `second` on the helper thread and `first` here; an exception of either is raised here (first's when
    both fail)."""
    wait = _helper.run(second)
    try:
        first()
    finally:
        failed = wait()
    if failed is not None:
        raise failed


def _applied(then, y: np.ndarray) -> np.ndarray:
    """`y` with the in-place op `then` applied over it (None: y as it is)."""
    if then is None:
        return y
    out = then(y)
    if out is not y:  # an in-place form that could not write over y returns its result instead
        y[...] = out
    return y


class Convolution:
    """A convolution whose weights are prepared once: call with x [N, C, *D] and (before, after) pads."""

    def __init__(self, ctx, weight, strides, dilations, groups: int):
        self.ctx = ctx
        self.fp16_weights = np.asarray(weight).dtype == np.float16
        w = f32(weight)
        self.kernel = tuple(w.shape[2:])
        self.strides, self.dilations, self.groups = list(strides), list(dilations), groups
        self.cout = w.shape[0]
        self.taps = math.prod(self.kernel)
        per = self.cout // groups
        #: Per group, the [C/g * prod(k), C_out/g] weight matrix in (channel, tap) row order.
        self.matrices = [np.ascontiguousarray(w[g * per : (g + 1) * per].reshape(per, -1)).T
                         for g in range(groups)]
        #: A 1-D convolution's [C, C_out] weight matrix of each tap (`_tap_sums`), None where it gathers windows.
        #: Finite weights only: a tap that reads padding is skipped there, and 0 * inf is NaN, not nothing.
        by_tap = len(self.kernel) == 1 and self.taps > 1 and groups == 1 and w.shape[1] >= TAP_SUMS_FROM
        self.tap_matrices = ([np.ascontiguousarray(w[:, :, t].T) for t in range(self.taps)]
                             if by_tap and np.isfinite(w).all() else None)
        self._shapes: dict[tuple, tuple] = {}  # (input shape, pads) -> `_layout`

    def __call__(self, x: np.ndarray, pads, bias: np.ndarray | None = None, rounded: bool = False,
                 then: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
        """y [N, C_out, *out]; `bias` [C_out], when given, is added (float32, as `y + bias` would);
        `rounded`: y rounded to fp16 values (`round16`, with its layout), a few samples at a time in cache;
        `then`: an elementwise op writing over a float32 array (the next op's in-place form), applied to the
        final values, chunk by chunk while they are in cache where the chunks hold them."""
        n = x.shape[0]
        if self.taps == 1:
            y, out_shape = self._pointwise_products(x, pads)
            y = self._channels_first(y, n, out_shape, bias)
            return _applied(then, round16(y) if rounded else y)
        shapes = self._layout_of(x.shape, pads)
        out_shape, per = shapes[:2]
        # the bias joins each chunk's sums, unless a size-1 axis would give the result other strides
        fused = bias is not None and self.cout > 1 and min(out_shape, default=2) > 1
        channels_last = x.transpose(0, *range(2, x.ndim), 1)  # a view: [N, *D, C]
        per_chunk = rounded and (fused or bias is None) and per < n  # one chunk: round the result once
        # chunks hold final values when nothing is left to do to the whole: `then` goes there
        chunk_then = then if (fused or bias is None) and (per_chunk or not rounded) else None
        chunks = -(-n // per)
        if chunks < 2 or not self._threaded():
            y = self._chunks(channels_last, range(max(chunks, 1)), None, shapes, fused, bias, per_chunk, chunk_then)
        else:
            y = np.empty((n, math.prod(out_shape), self.cout), np.float32)
            ks = iter(range(chunks))  # each thread takes the next chunk: one index each, the GIL held
            _in_two(*[lambda: self._chunks(channels_last, ks, y, shapes, fused, bias, per_chunk, chunk_then)] * 2)
        y = self._channels_first(y, n, out_shape, None if fused else bias)
        then = then if chunk_then is None else None
        if not rounded:
            return _applied(then, y)
        if not per_chunk:
            return _applied(then, round16(y))
        like = np.empty_like(y)  # the strides round16 would give the whole result (size-1 axes differ)
        if like.strides == y.strides:
            return y
        like[...] = y
        return like

    def _layout_of(self, shape, pads) -> tuple:
        """`_layout` of an input shape and pads, kept from call to call."""
        key = (shape, tuple(map(tuple, pads)))
        shapes = self._shapes.get(key)
        if shapes is None:
            if len(self._shapes) >= 64:  # batch sizes seen by a long fuzz run: keep the cache small
                self._shapes.clear()
            shapes = self._shapes[key] = self._layout(shape, pads)
        return shapes

    def _float32_sums(self) -> bool:
        """The profile sums this op in float32 (not in fp16 blocks)."""
        return not getattr(self.ctx, "accumulate_fp16", True)

    def _threaded(self) -> bool:
        """Two threads for float32 sums on two cores (BLAS and numpy's copies let go of the GIL)."""
        return THREADS > 1 and self._float32_sums()

    def _chunks(self, channels_last, ks: Iterable[int], y, shapes, fused: bool, bias, per_chunk: bool, then):
        """Chunks `ks` of the batch (chunk k: samples [k * per, (k + 1) * per)), each chunk's windows gathered,
        multiplied and written into `y` [N, P, C_out] (made here when None), then `then` applied to it (when
        not None); buffers of its own, so two threads may take chunks from one iterator. Which thread runs a
        chunk changes no bit: each sample's product is its own BLAS call, and a late thread takes fewer
        (a virtual machine's second core was slow for tens of ms after an idle spell)."""
        out_shape, per, taps, padded = shapes
        n, c = len(channels_last), channels_last.shape[-1]
        cg = c // self.groups
        by_tap = self._by_tap()
        if by_tap:  # the sums are written into y, a tap's products into the scratch first
            y = np.empty((n, math.prod(out_shape), self.cout), np.float32) if y is None else y
            scratch = np.empty((min(per, n), *y.shape[1:]), np.float32)
        else:  # the padding's zeros once: each chunk writes the same inside of the windows, never their zeros
            win = (np.zeros if padded else np.empty)((min(per, n), *out_shape, c, *self.kernel), channels_last.dtype)
        rest = [slice(None)] * len(out_shape)
        for k in ks:  # an empty batch still makes its [0, C_out, *out]: chunk 0
            start = k * per
            stop = min(start + per, n)
            if by_tap:
                part = y[start:stop]
                self._tap_sums(channels_last[start:stop], taps, part, scratch)
            else:
                part = win[: stop - start]
                for target, source in taps:
                    part[target] = channels_last[start:stop][source]
                rows = (stop - start, math.prod(out_shape), cg * self.taps)  # explicit: an empty batch has no -1
                part = self._multiply([part[..., g * cg : (g + 1) * cg, *rest].reshape(rows)
                                       for g in range(self.groups)])
                if y is None:
                    y = part if stop - start == n else np.empty((n, *part.shape[1:]), part.dtype)
            if fused:
                np.add(part, bias, out=y[start:stop])
            elif not by_tap and y is not part:
                y[start:stop] = part
            if per_chunk:
                y[start:stop] = round16(y[start:stop])
            if then is not None:
                _applied(then, y[start:stop])
        return y

    def _by_tap(self) -> bool:
        """Summed tap by tap (`_tap_sums`): a 1-D convolution of enough channels, with float32 sums and no Monte
        Carlo noise (whose model adds each dot product's rounding as one sum's)."""
        noise = getattr(getattr(self.ctx, "interpreter", None), "noise", None)
        return self.tap_matrices is not None and self._float32_sums() and noise is None

    def _tap_sums(self, x_rows: np.ndarray, taps, out: np.ndarray, scratch: np.ndarray) -> None:
        """out [m, P, C_out] = the sum over taps of the tap's input rows times its [C, C_out] weights.

        A tap's rows are a view of the channels-last input [m, L, C] (positions at the tap's offset and the
        stride), so nothing is gathered; each sample's product is its own BLAS call, so a sample's sums never
        depend on the batch around it; the taps are added in the layout's order (a tap that covers every output
        position first), a function of the shapes alone. A position a tap reads as padding gets no term from
        it: with finite weights (`tap_matrices`) the zero it would add changes no value.
        """
        c = x_rows.shape[-1] * x_rows.itemsize
        if x_rows.strides[1:] != (c, x_rows.itemsize):  # channels-first, reversed or broadcast memory: numpy would
            x_rows = np.ascontiguousarray(x_rows)  # multiply some of those views in its own loop, not BLAS's
        started = False
        for target, source in taps:
            rows, weights, into = x_rows[:, source[1]], self.tap_matrices[target[-1]], target[1]
            if not started and into == slice(0, out.shape[1]):
                np.matmul(rows, weights, out=out)
            else:
                if not started:
                    out[...] = 0
                products = np.matmul(rows, weights, out=scratch[: len(out), : rows.shape[1]])
                np.add(out[:, into], products, out=out[:, into])
            started = True
        if not started:  # every tap reads padding alone
            out[...] = 0

    def _layout(self, shape, pads) -> tuple:
        """For an input of `shape` and these pads: the output's spatial shape, the samples per chunk, each
        tap's (window index, input slices) and whether there is padding.

        A tap copies the shifted [n, *out, C] slab of the input its windows read (long runs of channels,
        where copying a window view moves a few elements per inner loop), limited to the output positions
        whose tap falls inside the input: the rest of the windows are the padding's zeros, made once.
        """
        n, c, *spatial = shape
        out_shape = tuple((size + b + a - (k - 1) * d - 1) // s + 1 for size, (b, a), k, s, d in zip(
            spatial, pads, self.kernel, self.strides, self.dilations, strict=True))
        sample_bytes = max(1, math.prod(out_shape) * (c * self.taps + self.cout) * 4)
        per = max(n, 1) if self.groups > 1 else max(1, _CHUNK_BYTES // sample_bytes)
        taps = []
        for tap in np.ndindex(*self.kernel):
            ranges = [_inside(t * d - b, size, o, s) for t, size, o, s, d, (b, _) in zip(
                tap, spatial, out_shape, self.strides, self.dilations, pads, strict=True)]
            if all(r is not None for r in ranges):  # else every window of this tap is padding
                taps.append(((slice(None), *(r[0] for r in ranges), slice(None), *tap),
                             (slice(None), *(r[1] for r in ranges))))
        # a tap that covers every output position first: `_tap_sums` starts from its products (the gather: any order)
        taps.sort(key=lambda tap: tap[0][1:-1 - len(self.kernel)] != tuple(slice(0, o) for o in out_shape))
        return out_shape, per, taps, any(b or a for b, a in pads)

    def _channels_first(self, y, n, out_shape, bias):
        """[N, P, C_out] -> [N, C_out, *out] (a view), plus the bias when it is still to add."""
        y = y.reshape(n, *out_shape, self.cout)
        y = y.transpose(0, y.ndim - 1, *range(1, y.ndim - 1))
        return y if bias is None else y + bias.reshape([-1] + [1] * len(out_shape))

    def _multiply(self, groups: list[np.ndarray]) -> np.ndarray:
        """Each group's [N, P, C/g * taps] matrix times its weights, groups side by side: [N, P, C_out]."""
        fp16 = getattr(self.ctx, "fp16_inputs", False) and self.fp16_weights  # windows of x, and zeros
        outs = [self.ctx.matmul(a, m, fp16) for a, m in zip(groups, self.matrices, strict=True)]
        return outs[0] if len(outs) == 1 else np.concatenate(outs, axis=-1)

    def _pointwise_products(self, x, pads) -> tuple[np.ndarray, tuple]:
        """A one-tap kernel's [N, P, C_out] products and its output's spatial shape; a large batch in chunks
        taken by two threads (float32 sums), each sample's product the same BLAS call either way."""
        n, c = x.shape[:2]
        cg = c // self.groups

        out_shape, per = self._layout_of(x.shape, pads)[:2]

        def products(part):
            rows = self._pointwise(part, pads)
            shape = (len(part), math.prod(out_shape), cg)
            return self._multiply([np.ascontiguousarray(rows[..., g * cg : (g + 1) * cg]).reshape(shape)
                                   for g in range(self.groups)])

        chunks = -(-n // per)
        if chunks < 2 or not self._threaded():
            return products(x), out_shape
        y = np.empty((n, math.prod(out_shape), self.cout), np.float32)
        ks = iter(range(chunks))  # each thread takes the next chunk, as a conv's do

        def take() -> None:
            for k in ks:
                y[k * per : (k + 1) * per] = products(x[k * per : (k + 1) * per])

        _in_two(take, take)
        return y, out_shape

    def _pointwise(self, x, pads):
        """[N, *out, C] rows for a one-tap kernel: a view of x when x is channels-last in memory (as a conv's
        output is), unpadded and unstrided.

        Each group's rows are then handed to BLAS C-contiguous whatever x's layout, so the sums (gemv's with
        one output channel, which depend on the layout) depend on the values alone.
        """
        if any(b or a for b, a in pads):
            x = np.pad(x, [(0, 0), (0, 0), *pads])
        nd = len(self.kernel)
        win = windows(x, self.kernel, self.strides, self.dilations)[(Ellipsis, *[0] * nd)]  # [N, C, *out]
        return np.moveaxis(win, 1, -1)


def _inside(offset: int, size: int, out: int, stride: int) -> tuple[slice, slice] | None:
    """Output positions o in [0, out) whose input index o * stride + offset is in [0, size): (their slice,
    the input's slice they read), or None when there are none."""
    first = max(0, -(offset // stride)) if offset < 0 else 0
    last = min(out - 1, (size - 1 - offset) // stride) if size - 1 - offset >= 0 else -1
    if first > last:
        return None
    return slice(first, last + 1), slice(first * stride + offset, last * stride + offset + 1, stride)


def convolve(ctx, x, weight, strides, pads, dilations, groups: int) -> np.ndarray:
    """x [N, C, *D] (float32) with weight [C_out, C/groups, *K], explicit (before, after) pads."""
    return Convolution(ctx, weight, strides, dilations, groups)(x, pads)
