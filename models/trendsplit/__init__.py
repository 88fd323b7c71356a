"""The trendline-split model: watch-measurement points in, per-point split probabilities out."""

from __future__ import annotations

import numpy as np

from harness.encoding import DEFAULT_THRESHOLD, ENCODING_VERSION, L, decision_mask, encode_batch
from models.spec import Cases, ModelSpec, TensorSpec
from models.trendsplit import data, gru, net, train


def make_cases(count: int, seed: int) -> Cases:
    logs = data.parity_logs(count, seed)
    return Cases(
        feeds={"points": encode_batch([log.points for log in logs])},
        decision_mask=decision_mask(np.array([len(log.points) for log in logs])),
        kinds=tuple(log.kind for log in logs),
        raw=tuple(log.points for log in logs),
        seed=seed,
    )


SPEC = ModelSpec(
    name="trendsplit",
    description=(f"1-D conv net, receptive field {net.receptive_field()} points: "
                 "where does a watch's trendline break?"),
    build=lambda: train.load("trendsplit"),
    inputs=(TensorSpec("points", (None, 2, L)),),
    outputs=(TensorSpec("split_probs", (None, L)),),
    make_cases=make_cases,
    threshold=DEFAULT_THRESHOLD,
    weights_source="trained: models/trendsplit/weights/trendsplit.pt (card beside it)",
    trained=True,
    metadata={"encoding_version": str(ENCODING_VERSION)},
)

GRU_SPEC = ModelSpec(
    name="trendsplit-gru",
    description="bidirectional GRU on the same task and contract",
    build=lambda: train.load("trendsplit-gru"),
    inputs=(TensorSpec("points", (None, 2, L)),),
    outputs=(TensorSpec("split_probs", (None, L)),),
    make_cases=make_cases,
    threshold=DEFAULT_THRESHOLD,
    weights_source="trained: models/trendsplit/weights/trendsplit-gru.pt (card beside it)",
    trained=True,
    metadata={"encoding_version": str(ENCODING_VERSION)},
)

__all__ = ["SPEC", "GRU_SPEC", "make_cases", "data", "gru", "net", "train"]
