"""mul: x * y, broadcasting."""

from harness.mil.ops._common import binary


def run(ctx, x, y):
    a, b = binary(x, y)
    return a * b
