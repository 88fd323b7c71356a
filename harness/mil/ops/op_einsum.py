"""einsum of two operands by `equation`; size-1 axes broadcast against the other operand (the op's spec).

A contraction (every letter of an operand either kept in the output or summed against the
other operand) runs as one batched matmul, so the profile's accumulation applies; any other
equation falls back to numpy's float32 einsum.
"""

import numpy as np

from harness.mil.ops._common import f32


def _as_matmul(ctx, a, b, ta: str, tb: str, out: str):
    batch = [c for c in out if c in ta and c in tb]
    m = [c for c in out if c in ta and c not in tb]
    n = [c for c in out if c in tb and c not in ta]
    k = [c for c in ta if c in tb and c not in out]
    if sorted(ta) != sorted(batch + m + k) or sorted(tb) != sorted(batch + k + n) or len(set(out)) != len(out):
        return None
    size = dict(zip(ta, a.shape, strict=True)) | dict(zip(tb, b.shape, strict=True))
    dims = [size[c] for c in batch]
    am = np.transpose(a, [ta.index(c) for c in batch + m + k]).reshape(
        dims + [int(np.prod([size[c] for c in m])), int(np.prod([size[c] for c in k]))])
    bm = np.transpose(b, [tb.index(c) for c in batch + k + n]).reshape(
        dims + [int(np.prod([size[c] for c in k])), int(np.prod([size[c] for c in n]))])
    c = f32(ctx.matmul(am, bm)).reshape(dims + [size[x] for x in m + n])
    order = batch + m + n
    return np.transpose(c, [order.index(x) for x in out])


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
    if len(wide) == 2:
        product = _as_matmul(ctx, wide[0], wide[1], terms[0], terms[1], output)
        if product is not None:
            return product
    return np.einsum(f"{','.join(terms)}->{output}", *wide)
