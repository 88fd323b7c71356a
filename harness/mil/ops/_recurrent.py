"""The time loop shared by rnn, lstm and gru: x [s, b, I] processed forward or reversed."""

from __future__ import annotations

import numpy as np

from harness.mil.ops._common import f32


def project(ctx, v: np.ndarray, weight) -> np.ndarray:
    """v [b, I] @ weight.T, weight [G, I], with the profile's accumulation."""
    return f32(ctx.matmul(v, f32(weight).T))


def check_state(name: str, state: np.ndarray, x: np.ndarray) -> None:
    """A state is [b, H] for x [s, b, I] (a [1, H] one broadcasts); say so rather than fail to broadcast later.

    coremltools' torch frontend writes such a program for pack_padded_sequence: initial_h gets
    seq_lengths[0] rows (docs/mil-conformance.md).
    """
    if state.ndim == 2 and state.shape[0] not in (1, x.shape[1]):
        raise ValueError(f"{name} has shape {state.shape}: its rows must be x's batch ({x.shape[1]}, x is "
                         f"{x.shape}) or 1")


def steps(x: np.ndarray, reverse: bool):
    """(t, x[t]) in processing order."""
    order = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
    return ((t, x[t]) for t in order)


def sequence(outputs: list[np.ndarray], output_sequence: bool) -> np.ndarray:
    """[s, b, H] of every step in processing order, or [1, b, H] of the last."""
    return np.stack(outputs) if output_sequence else outputs[-1][None]
