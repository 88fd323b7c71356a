"""The time loop shared by rnn, lstm and gru: x [s, b, I] processed forward or reversed."""

from __future__ import annotations

import numpy as np

from harness.mil.ops._common import f32


def project(ctx, v: np.ndarray, weight) -> np.ndarray:
    """v [b, I] @ weight.T, weight [G, I], with the profile's accumulation."""
    return f32(ctx.matmul(v, f32(weight).T))


def batch_state(name: str, state: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A state is [b, H] for x [s, b, I] (a [1, H] one broadcasts); one of more rows is cut to the batch's.

    Assumption (the spec says [b, H]; this follows what coremltools lowers and Apple's tests expect):
    coremltools' torch frontend lowers pack_padded_sequence by passing seq_lengths on as the PackedSequence's
    batch_sizes, so torch's zero states become `fill` of seq_lengths[0] rows (the longest sequence) for a
    batch of fewer. Apple's TestLSTMWithPackedSequence runs those programs on Core ML without a skip, and
    reading the first b rows matches torch in all 16 of its configurations (docs/mil-conformance.md). Fewer
    rows than the batch (and more than 1) have no such reading: named rather than broadcast.
    """
    if state.ndim == 2 and state.shape[0] > x.shape[1]:
        return state[:x.shape[1]]
    if state.ndim == 2 and state.shape[0] not in (1, x.shape[1]):
        raise ValueError(f"{name} has shape {state.shape}: its rows must be x's batch ({x.shape[1]}, x is "
                         f"{x.shape}) or 1")
    return state


def steps(x: np.ndarray, reverse: bool):
    """(t, x[t]) in processing order."""
    order = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
    return ((t, x[t]) for t in order)


def sequence(outputs: list[np.ndarray], output_sequence: bool) -> np.ndarray:
    """[s, b, H] of every step in processing order, or [1, b, H] of the last."""
    return np.stack(outputs) if output_sequence else outputs[-1][None]
