"""rnn: h_t = activation(W_ih x_t + W_hh h_{t-1} + bias), forward or reverse.

A reverse run reads x from the last step to the first and returns its steps in that order
(coremltools' own test compares it with torch on the flipped sequence).
"""

import numpy as np

from harness.mil.ops._common import activation as act
from harness.mil.ops._common import f32
from harness.mil.ops._recurrent import batch_state, project, sequence, steps


def run(ctx, x, initial_h, weight_ih, weight_hh, bias=None, direction="forward", output_sequence=False,
        activation="tanh"):
    if direction not in ("forward", "reverse"):
        raise ctx.unsupported(f"rnn direction {direction!r} is not supported")
    fn = act(str(activation), ctx)
    v, h = f32(x), f32(initial_h)
    h = batch_state("initial_h", h, v)
    b = f32(bias) if bias is not None else np.float32(0)
    outs = []
    for _, xt in steps(v, direction == "reverse"):
        h = fn(project(ctx, xt, weight_ih) + project(ctx, h, weight_hh) + b)
        outs.append(h)
    return sequence(outs, bool(output_sequence)), h
