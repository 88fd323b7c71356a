"""The trendline-split network: a fully convolutional 1-D net, as in the seed post.

Layers (input [N, 2, 100] -> output [N, 100]):

    clamp to +-100                                   (see below)
    conv k5 d1  2->32 + ReLU      receptive field  5
    conv k5 d2 32->32 + ReLU                      13
    conv k5 d4 32->32 + ReLU                      29
    conv k5 d8 32->32 + ReLU                      61
    conv k1    32->1  + sigmoid                   61

Why: a break is a change of offset or slope, visible only against a run of points on
both sides, so each output sees 30 points either way; dilations reach that in four
layers with 15,841 parameters. "same" padding keeps one output per input position
and no fully connected layer ties the net to the padded length. Only conv, relu and
sigmoid: ops every converter and every CoreML compute unit supports.

The clamp is there because the harness found two fp16 problems. First, encoded y is
y-range / x-range, which passes float16's maximum (65,504) for a burst of readings a
minute apart with a few seconds between them: the fp16 program's input cast made it
infinite and the output NaN (a clamp at +-1000 fixed that; the fp16 program clamps the
infinity back). Second, with trained weights the fp16 profiles flipped confident
decisions on bursts and misread outliers whose encoded y reached the hundreds, where
float16's spacing is 0.25-0.5: clamping at +-100 (a rate of 100 s/day, beyond any
working watch) keeps fp16's input rounding to 1/16 or finer. The clamp is part of the
model, so every backend computes the same function.
"""

from __future__ import annotations

import torch
from torch import nn

from harness import api

CHANNELS = 32
INPUT_LIMIT = 100.0
KERNEL = 5
DILATIONS = (1, 2, 4, 8)


def receptive_field(kernel: int = KERNEL, dilations: tuple[int, ...] = DILATIONS) -> int:
    return 1 + sum((kernel - 1) * d for d in dilations)


#: Encoding v2's channels for the log with y negated: x and the day gaps stay, y and its steps in
#: seconds change sign, bit for bit (the encoding is odd in y; tests/trendsplit/test_models_v2.py).
V2_MIRROR = (1.0, -1.0, -1.0, 1.0)
#: trendsplit-v3's width: one net for every owner's habits needs more than v2's 32 channels (48 beat 32
#: on every shifted set in a pilot at an eighth of the budget; docs/trendsplit/models.md, trendsplit-v3).
V3_CHANNELS = 48
#: Encoding v3's: v2's, then the step in noise scales changes sign, the noise scale stays and the
#: residuals in noise scales change sign.
V3_MIRROR = (*V2_MIRROR, -1.0, 1.0, -1.0)
#: trendsplit-v3b's: v3's, then 16 and 32, so each output sees 253 positions, the whole padded log
#: (L = 100) wherever it sits. PELT's line fits use every reading of a segment; on sparse logs and logs with
#: few breaks that beat a net seeing 30 readings a side (docs/trendsplit/models.md, trendsplit-v3b).
WHOLE_DILATIONS = (*DILATIONS, 16, 32)
#: The slope channel (`TrendSplitNet(slope=...)`): the step to the next reading in seconds over its
#: gap in days (encoding v2's DY and DX, channels 2 and 3), the gap floored at SLOPE_GAP days and
#: the slope clamped to +-SLOPE_LIMIT s/day (powers of two: exact in float16, and 100 / 2^-6 = 6,400
#: stays finite in it). A conv net adds and compares but does not divide, and on irregular gaps a
#: drift change is a change of this ratio.
SLOPE_GAP = 2.0**-6
SLOPE_LIMIT = 64.0


class TrendSplitNet(nn.Module):
    """`inputs` is the encoding's channel count: 2 for v1 (`trendsplit`), 4 for v2 (`trendsplit-v2`), 7 for v3.

    With `mirror` (a sign per channel) the output is the sigmoid of the mean of the net's logits
    for the log and for its mirror image in y. The generator is symmetric in y (drift, offsets
    and noise are zero-mean normal), so a break is a break either way up; averaging the two
    views is a two-member ensemble from one set of weights (trendsplit-v2: +0.004 F1 on
    validation, docs/trendsplit/models.md). Logits, not probabilities: two confident views that disagree average
    to exactly 0.5 in probability, a decision at the threshold that any rounding flips (247 of
    211,509 positions within 1e-4 of 0.5 in 5,000 parity cases; 0 with logits, the same F1).
    The weights are the same with or without it: training fits the plain net.
    """

    def __init__(self, channels: int = CHANNELS, inputs: int = 2, dilations: tuple[int, ...] = DILATIONS,
                 mirror: tuple[float, ...] | None = None, slope: bool = False):
        super().__init__()
        if mirror is not None and len(mirror) != inputs:
            raise ValueError(f"mirror needs one sign per input channel ({inputs}), got {mirror}")
        if slope and inputs < 4:
            raise ValueError(f"the slope channel needs encoding v2's steps (4 or more inputs), got {inputs}")
        self.register_buffer("mirror", None if mirror is None else torch.tensor(mirror).view(1, inputs, 1),
                             persistent=False)  # not a weight: the committed state dicts stay as trained
        self.slope = slope
        layers: list[nn.Module] = []
        width = inputs + slope
        for d in dilations:
            layers += [nn.Conv1d(width, channels, KERNEL, dilation=d, padding=d * (KERNEL - 1) // 2),
                       nn.ReLU()]
            width = channels
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv1d(channels, 1, 1)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self._logits(points)).squeeze(1)

    def logits(self, points: torch.Tensor) -> torch.Tensor:
        """[N, L]: what the sigmoid turns into split probabilities."""
        return self._logits(points).squeeze(1)

    def _logits(self, points: torch.Tensor) -> torch.Tensor:
        clamped = torch.clamp(points, -INPUT_LIMIT, INPUT_LIMIT)  # symmetric, so it commutes with the mirror
        logits = self.head(self.body(self._features(clamped)))
        if self.mirror is None:
            return logits
        return (logits + self.head(self.body(self._features(clamped * self.mirror)))) / 2

    def _features(self, clamped: torch.Tensor) -> torch.Tensor:
        if not self.slope:
            return clamped
        gap = torch.clamp(clamped[:, 3:4], min=SLOPE_GAP)
        return torch.cat([clamped, torch.clamp(clamped[:, 2:3] / gap, -SLOPE_LIMIT, SLOPE_LIMIT)], dim=1)


def grown(source: TrendSplitNet, target: TrendSplitNet) -> TrendSplitNet:
    """`target`, a deeper net of the same width, set to compute exactly what `source` computes.

    Why: a net is widened in view and given more inputs without losing what it learnt. `source`'s
    layers become `target`'s first ones and its head `target`'s head; the first layer's extra
    inputs (the slope channel) get zero weights; each extra layer is the identity (its centre tap
    1 on its own channel, every other weight and bias 0), exact because its input is already a
    ReLU's, so training starts from `source`'s function and its F1."""
    kept = len(source.body)
    if [m.dilation for m in source.body[::2]] != [m.dilation for m in target.body[:kept:2]]:
        raise ValueError("grown: the target's first layers must be the source's")
    weights = target.state_dict()
    for name, value in source.state_dict().items():
        mine = weights[name]
        extra_inputs = (name == "body.0.weight" and mine.shape[0::2] == value.shape[0::2]
                        and mine.shape[1] > value.shape[1])
        if mine.shape != value.shape and not extra_inputs:
            raise ValueError(f"grown: {name} is {list(value.shape)} in the source, {list(mine.shape)} here")
        weights[name] = torch.zeros_like(mine)  # the target's extra inputs start unused
        weights[name][tuple(slice(0, n) for n in value.shape)] = value
    for k, layer in enumerate(target.body[kept::2], start=kept // 2):
        identity = torch.zeros_like(layer.weight)
        channels = torch.arange(layer.out_channels)
        identity[channels, channels, KERNEL // 2] = 1.0
        weights[f"body.{2 * k}.weight"], weights[f"body.{2 * k}.bias"] = identity, torch.zeros_like(layer.bias)
    target.load_state_dict(weights)
    return target


def seeded(seed: int = 0) -> TrendSplitNet:
    """Deterministic initial weights: PyTorch's default init, drawn exactly from a fixed seed (`api.seeded`)."""
    return api.seeded(TrendSplitNet, seed)


#: Encoding v4's channel that carries the posterior's log-odds (`trendsplit.posterior`).
POST_CHANNEL = 7


class PosteriorReader(nn.Module):
    """trendsplit-v4's net: the break probability encoding v4's POST channel carries, sigmoid(a * POST + b).

    The posterior computed in the encoding is what the best detector of the generator's logs would say;
    given it, trendsplit-v3b's whole conv net adds nothing (a logistic fit of v3b's logit and POST on 2,000
    mixture logs weighs them 0.03 and 0.91, and decides within 0.001 F1 of POST alone on every validation
    set: docs/trendsplit/models.md). So the net is a calibration, a = 1 and b = 0: the posterior as it is,
    decided at 0.5. Its input is [N, 8, L] like any encoding v4 model's, so an app pairs and decodes it as it
    does the others, and the harness exports and judges it the same way.
    """

    def __init__(self, scale: float = 1.0, shift: float = 0.0):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(float(scale)))
        self.shift = nn.Parameter(torch.tensor(float(shift)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x[:, POST_CHANNEL] * self.scale + self.shift)
