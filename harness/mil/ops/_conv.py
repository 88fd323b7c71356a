"""The convolution both conv and conv_transpose run, in a channels-last, BLAS-friendly form.

The input is read channels-last (free when the previous op left its memory that way, as
conv's own output is), padded once, and each output position's window is gathered in
(channel, tap) order into one matrix multiplied by the weight matrix: the same sums, in the
same order, as a plain im2col over channels-first windows, so the fp32 profile's results are
unchanged, without the moves between layouts. The result is channels-first in shape and
channels-last in memory, which elementwise ops keep and the next conv reads as it is.
"""

from __future__ import annotations

import numpy as np

from harness.mil.ops._common import f32, windows


class Convolution:
    """A convolution whose weights are prepared once: call with x [N, C, *D] and (before, after) pads."""

    def __init__(self, ctx, weight, strides, dilations, groups: int):
        self.ctx = ctx
        w = f32(weight)
        self.kernel = tuple(w.shape[2:])
        self.strides, self.dilations, self.groups = list(strides), list(dilations), groups
        self.cout = w.shape[0]
        self.taps = int(np.prod(self.kernel))
        per = self.cout // groups
        #: Per group, the [C/g * prod(k), C_out/g] weight matrix in (channel, tap) row order.
        self.matrices = [np.ascontiguousarray(w[g * per : (g + 1) * per].reshape(per, -1)).T
                         for g in range(groups)]

    def __call__(self, x: np.ndarray, pads) -> np.ndarray:
        n, c = x.shape[:2]
        cg = c // self.groups
        if self.taps == 1:
            win, out_shape = self._pointwise(x, pads)
            groups = [np.moveaxis(win[:, g * cg : (g + 1) * cg], 1, 1 + len(out_shape)).reshape(n, -1, cg)
                      for g in range(self.groups)]
        else:
            win, out_shape = self._windows(x, pads)
            rest = [slice(None)] * len(out_shape)
            groups = [win[..., g * cg : (g + 1) * cg, *rest].reshape(n, -1, cg * self.taps)
                      for g in range(self.groups)]
        outs = [self.ctx.matmul(a, m) for a, m in zip(groups, self.matrices, strict=True)]  # [N, P, C_out/g]
        y = outs[0] if len(outs) == 1 else np.concatenate(outs, axis=-1)
        y = y.reshape(n, *out_shape, self.cout)
        return y.transpose(0, y.ndim - 1, *range(1, y.ndim - 1))

    def _windows(self, x, pads):
        """[N, *out, C, *k] windows of x read channels-last and padded once, gathered one tap at a time.

        Each tap copies a whole shifted [N, *out, C] slab (long runs of channels), where copying
        a window view moves a few elements per inner loop.
        """
        n, c = x.shape[:2]
        channels_last = x.transpose(0, *range(2, x.ndim), 1)  # a view: [N, *D, C]
        if any(b or a for b, a in pads):
            padded = np.zeros((n, *(d + b + a for d, (b, a) in zip(x.shape[2:], pads, strict=True)), c), x.dtype)
            padded[(slice(None), *(slice(b, b + d) for d, (b, _) in zip(x.shape[2:], pads, strict=True)))] = (
                channels_last)
        else:
            padded = channels_last
        out_shape = tuple((size - (k - 1) * d - 1) // s + 1 for size, k, s, d in zip(
            padded.shape[1:-1], self.kernel, self.strides, self.dilations, strict=True))
        win = np.empty((n, *out_shape, c, *self.kernel), x.dtype)
        for tap in np.ndindex(*self.kernel):
            source = tuple(slice(t * d, t * d + (o - 1) * s + 1, s) for t, o, s, d in zip(
                tap, out_shape, self.strides, self.dilations, strict=True))
            win[(Ellipsis, *tap)] = padded[(slice(None), *source)]
        return win, out_shape

    def _pointwise(self, x, pads):
        """[N, C, *out, 1...] for a one-tap kernel: channels-first, so the matrix is a view of x.

        Its layout (positions at unit stride) is the one BLAS has always been handed for a
        one-tap conv here: with one output channel numpy calls gemv, whose sums depend on it.
        """
        xp = np.pad(x, [(0, 0), (0, 0), *pads]) if any(b or a for b, a in pads) else np.ascontiguousarray(x)
        win = windows(xp, self.kernel, self.strides, self.dilations)
        return win, win.shape[2 : 2 + x.ndim - 2]


def convolve(ctx, x, weight, strides, pads, dilations, groups: int) -> np.ndarray:
    """x [N, C, *D] (float32) with weight [C_out, C/groups, *K], explicit (before, after) pads."""
    return Convolution(ctx, weight, strides, dilations, groups)(x, pads)
