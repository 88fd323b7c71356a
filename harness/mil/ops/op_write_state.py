"""write_state (iOS18): replace a state buffer's value, stored as the state's declared dtype (no outputs).

coremltools writes it for `coreml_update_state`, followed by a read_state when the new value is used.
"""


def run(ctx, input, data):
    input.write(data)
    return ()
