"""einsum of two operands by `equation`; size-1 axes broadcast against the other operand (the op's spec).

Sums in float32 under every profile (no fp16-accumulation emulation here).
"""

import numpy as np

from harness.mil.ops._common import f32


def run(ctx, values, equation):
    inputs, output = str(equation).replace(" ", "").split("->")
    terms = inputs.split(",")
    operands = [f32(v) for v in values]
    if len(terms) != len(operands) or "." in equation:
        raise ctx.unsupported(f"einsum equation {equation!r} with {len(operands)} operands is not supported")
    sizes: dict[str, int] = {}
    for term, op in zip(terms, operands, strict=True):
        for letter, n in zip(term, op.shape, strict=True):
            sizes[letter] = max(sizes.get(letter, 1), n)
    wide = [np.broadcast_to(op, [sizes[letter] for letter in term]) for term, op in zip(terms, operands, strict=True)]
    return np.einsum(f"{','.join(terms)}->{output}", *wide)
