"""linear_activation: alpha * x + beta."""


from harness.mil.ops._common import f32


def run(ctx, x, alpha, beta):
    return f32(alpha) * f32(x) + f32(beta)
