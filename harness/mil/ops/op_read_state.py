"""read_state (iOS18): a copy of a state buffer's current value (see `harness.mil.state`)."""


def run(ctx, input):
    return input.read()
