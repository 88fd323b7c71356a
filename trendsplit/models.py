"""The trendline-split model: watch-measurement points in, per-point split probabilities out."""

from __future__ import annotations

import numpy as np

from harness.spec import Cases, ModelSpec, TensorSpec
from trendsplit import data, gru, net, train
from trendsplit.encoding import DEFAULT_THRESHOLD, ENCODING_VERSION, L, decision_mask, encode_batch


def make_cases(count: int, seed: int) -> Cases:
    logs = data.parity_logs(count, seed)
    return Cases(
        feeds={"points": encode_batch([log.points for log in logs])},
        decision_mask=decision_mask(np.array([len(log.points) for log in logs])),
        kinds=tuple(log.kind for log in logs),
        raw=tuple(log.points for log in logs),
        seed=seed,
    )


#: Travels into every export: an app pairs the model with the encoder of this version.
METADATA = {"encoding_version": str(ENCODING_VERSION)}
#: The trendsplit contract: encoded points in, one split probability per position out.
INPUTS = (TensorSpec("points", (None, 2, L)),)
OUTPUTS = (TensorSpec("split_probs", (None, L)),)


def trained(arch: str, description: str) -> ModelSpec:
    """A trendsplit architecture with its committed weights (trendsplit/weights/)."""
    return ModelSpec(
        name=arch, description=description, build=lambda: train.load(arch), inputs=INPUTS, outputs=OUTPUTS,
        make_cases=make_cases, threshold=DEFAULT_THRESHOLD,
        weights_source=f"trained: trendsplit/weights/{arch}.pt (card beside it)", trained=True,
        metadata=METADATA)


SPEC = trained("trendsplit", f"1-D conv net, receptive field {net.receptive_field()} points: "
                             "where does a watch's trendline break?")
GRU_SPEC = trained("trendsplit-gru", "bidirectional GRU on the same task and contract")

__all__ = ["SPEC", "GRU_SPEC", "INPUTS", "OUTPUTS", "make_cases", "trained", "data", "gru", "net", "train"]
