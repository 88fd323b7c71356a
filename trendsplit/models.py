"""The trendline-split models: watch-measurement points in, per-point split probabilities out.

Each model declares the encoding version it was trained on (`metadata["encoding_version"]`,
written into every export); its cases are encoded with that version, and inputs of another
version are refused by `check_pairing` with `EncodingVersionMismatch`.
"""

from __future__ import annotations

import functools

import numpy as np

from harness.api import Cases, ModelSpec, TensorSpec
from trendsplit import data, gru, net, train
from trendsplit.encoding import (
    CHANNELS,
    DEFAULT_THRESHOLD,
    ENCODING_VERSION,
    L,
    channels_of,
    decision_mask,
    encode_batch,
)
from trendsplit.errors import EncodingVersionMismatch


def make_cases(count: int, seed: int, version: int = ENCODING_VERSION) -> Cases:
    """Seeded parity cases (realistic and adversarial logs) encoded with encoding `version`."""
    logs = data.parity_logs(count, seed)
    return Cases(
        feeds={"points": encode_batch([log.points for log in logs], version)},
        decision_mask=decision_mask(np.array([len(log.points) for log in logs])),
        kinds=tuple(log.kind for log in logs),
        raw=tuple(log.points for log in logs),
        seed=seed,
    )


THRESHOLD_KEY = "decision_threshold"


def metadata(version: int, threshold: float = DEFAULT_THRESHOLD) -> dict[str, str]:
    """Travels into every export: an app pairs the model with the encoder of this version and
    decodes at this threshold (`TrendSplitContract`). The threshold is written only where it is
    not 0.5, which is what its absence means, so models tuned before it keep their metadata."""
    data = {"encoding_version": str(version)}
    if threshold != DEFAULT_THRESHOLD:
        data[THRESHOLD_KEY] = repr(float(threshold))
    return data


def inputs(version: int) -> tuple[TensorSpec, ...]:
    return (TensorSpec("points", (None, channels_of(version), L)),)


METADATA = metadata(ENCODING_VERSION)
#: The trendsplit contract: encoded points in (v1: [N, 2, L]), one split probability per position out.
INPUTS = inputs(ENCODING_VERSION)
OUTPUTS = (TensorSpec("split_probs", (None, L)),)


def encoding_version(spec: ModelSpec) -> int:
    """The encoding version a model declares (a spec without one predates v2: version 1)."""
    return int(spec.metadata.get("encoding_version", ENCODING_VERSION))


def check_pairing(spec: ModelSpec, encoded: np.ndarray) -> None:
    """`EncodingVersionMismatch` unless `encoded` [N, C, L] has the channels of the model's version."""
    version = encoding_version(spec)
    shape = np.shape(encoded)
    if len(shape) != 3 or shape[1] != channels_of(version):
        given = next((v for v, c in CHANNELS.items() if len(shape) == 3 and shape[1] == c), None)
        what = f"encoding v{given} inputs" if given else f"inputs of shape {list(shape)}"
        raise EncodingVersionMismatch(f"model {spec.name!r} takes encoding v{version} inputs "
                                      f"[N, {channels_of(version)}, {L}], got {what}: encode with the model's version")


def trained(arch: str, description: str, threshold: float = DEFAULT_THRESHOLD) -> ModelSpec:
    """A trendsplit architecture with its committed weights (trendsplit/weights/), fed its encoding
    version and decided at `threshold` (chosen on validation: `python -m trendsplit threshold`)."""
    version = train.ARCHITECTURES[arch].encoding_version
    return ModelSpec(
        name=arch, description=description, build=lambda: train.load(arch), inputs=inputs(version),
        outputs=OUTPUTS, make_cases=functools.partial(make_cases, version=version), threshold=threshold,
        weights_source=f"trained: trendsplit/weights/{arch}.pt (card beside it)", trained=True,
        metadata=metadata(version, threshold))


#: The pick of the threshold sweep on validation (docs/trendsplit/models.md, Task quality), confirmed
#: on the held-out logs.
V2_THRESHOLD = 0.41

SPEC = trained("trendsplit", f"1-D conv net, receptive field {net.receptive_field()} points: "
                             "where does a watch's trendline break?")
GRU_SPEC = trained("trendsplit-gru", "bidirectional GRU on the same task and contract")
V2_SPEC = trained("trendsplit-v2", "the conv net on encoding v2 (steps in seconds and days added)",
                  threshold=V2_THRESHOLD)
#: trendsplit-v3 decides at 0.5: the same sweep on its own validation logs (the owners' mixture) picked 0.47,
#: a gain inside the noise (card, README), so the untuned default stays.
V3_THRESHOLD = 0.5
V3_SPEC = trained("trendsplit-v3", "a wider conv net on encoding v3 (the log's noise scale, and steps and residuals "
                                   "in units of it), trained on a mixture of owners' habits", threshold=V3_THRESHOLD)
#: trendsplit-v3b's threshold, picked on its validation logs (docs/trendsplit/models.md, trendsplit-v3b).
V3B_THRESHOLD = 0.5
V3B_SPEC = trained("trendsplit-v3b", "trendsplit-v3 grown: the whole log in view and a slope channel (seconds per day "
                                     "to the next reading), fine-tuned from v3's weights on the owners' mixture",
                   threshold=V3B_THRESHOLD)

#: trendsplit-v4 decides at 0.5: its output is the posterior probability itself (net.PosteriorReader).
V4_THRESHOLD = 0.5
V4_SPEC = ModelSpec(
    name="trendsplit-v4",
    description="the exact posterior probability of a break after each reading under the generator's model, the "
                "owner's habits unknown, computed in encoding v4 (POST) and read by a calibration",
    build=net.PosteriorReader, inputs=inputs(4), outputs=OUTPUTS,
    make_cases=functools.partial(make_cases, version=4), threshold=V4_THRESHOLD,
    weights_source="exact: none learnt (scale 1, shift 0); the model is trendsplit/posterior.py's posterior in "
                   "encoding v4", trained=False, metadata=metadata(4, V4_THRESHOLD))

__all__ = ["SPEC", "GRU_SPEC", "V2_SPEC", "V3_SPEC", "V3B_SPEC", "V4_SPEC", "INPUTS", "OUTPUTS", "check_pairing",
           "encoding_version", "make_cases", "trained", "data", "gru", "net", "train"]
