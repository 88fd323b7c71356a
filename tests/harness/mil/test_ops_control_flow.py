"""cond, select, lists, classify and non_maximum_suppression."""

from __future__ import annotations

import coremltools as ct
import numpy as np
import pytest
import torch
from coremltools.converters.mil import Builder as mb
from hypothesis import given
from hypothesis import strategies as st

from tests.harness.mil.conftest import SEEDS, op_settings, rand, t


@op_settings
@given(seed=SEEDS)
def test_cond_runs_only_the_chosen_branch_with_outer_values(run_mil, seed):
    x = rand(seed, 4)

    def build(x):
        positive = mb.greater(x=mb.reduce_sum(x=x), y=np.float32(0))
        return mb.cond(pred=positive, _true_fn=lambda: mb.mul(x=x, y=np.float32(2)),
                       _false_fn=lambda: mb.sub(x=np.float32(0), y=x))

    got = run_mil(build, {"x": x})
    np.testing.assert_allclose(got, 2 * x if x.sum() > 0 else -x, rtol=1e-6)


@op_settings
@given(seed=SEEDS, dtype=st.sampled_from([np.float32, np.int32]))
def test_select_broadcasts_cond_a_and_b(run_mil, seed, dtype):
    rng = np.random.default_rng(seed)
    cond = rng.integers(0, 2, size=(3, 1)).astype(bool)
    a = rng.integers(-9, 9, size=(3, 4)).astype(dtype)
    b = rng.integers(-9, 9, size=(4,)).astype(dtype)
    got = run_mil(lambda c, a, b: mb.select(cond=c, a=a, b=b), {"c": cond, "a": a, "b": b})
    np.testing.assert_array_equal(got, torch.where(t(cond), t(a), t(b)).numpy())


def test_lists_write_read_gather_scatter_and_grow(run_mil):
    x = rand(0, 2, 3)

    def build(x):
        ls = mb.make_list(init_length=2, elem_shape=[2, 3], dtype="fp32", dynamic_length=True)
        ls = mb.list_write(ls=ls, index=np.int32(0), value=x)
        ls = mb.list_write(ls=ls, index=np.int32(3), value=mb.mul(x=x, y=np.float32(3)))
        ls = mb.list_scatter(ls=ls, indices=np.array([1, 2], np.int32), value=mb.stack(values=[x, x], axis=0))
        return (mb.list_length(ls=ls), mb.list_read(ls=ls, index=np.int32(3)),
                mb.list_gather(ls=ls, indices=np.array([3, 0, 2], np.int32)))

    length, read, gathered = run_mil(build, {"x": x})
    assert int(length) == 4
    np.testing.assert_allclose(read, 3 * x, rtol=1e-6)
    np.testing.assert_allclose(gathered, np.stack([3 * x, x, x]), rtol=1e-6)


def test_a_list_carried_through_a_while_loop(run_mil):
    """TensorArray-style: each iteration writes i * x at slot i of a list loop variable."""
    x = rand(1, 3)

    def build(x):
        ls = mb.make_list(init_length=4, elem_shape=[3], dtype="fp32", dynamic_length=False)

        def cond(i, ls):
            return mb.less(x=i, y=np.int32(4))

        def body(i, ls):
            value = mb.mul(x=x, y=mb.cast(x=i, dtype="fp32"))
            return mb.add(x=i, y=np.int32(1)), mb.list_write(ls=ls, index=i, value=value)

        _, done = mb.while_loop(_cond=cond, _body=body, loop_vars=(np.int32(0), ls))
        return mb.list_gather(ls=done, indices=np.arange(4, dtype=np.int32))

    np.testing.assert_allclose(run_mil(build, {"x": x}), np.arange(4, dtype=np.float32)[:, None] * x, rtol=1e-6)


@pytest.mark.parametrize("classes", [["cat", "dog", "eel", "fox"], [3, 5, 7, 9]])
def test_classify_gives_the_top_label_and_every_probability(classes):
    """A torch classifier converted with a ClassifierConfig: string or integer labels."""
    from harness.mil import Interpreter, get_profile, load_program

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Softmax(dim=-1)).eval()
    x = torch.randn(1, 3)
    model = ct.convert(torch.jit.trace(net, x), inputs=[ct.TensorType(shape=(1, 3))], convert_to="mlprogram",
                       classifier_config=ct.ClassifierConfig(classes), minimum_deployment_target=ct.target.iOS15,
                       compute_precision=ct.precision.FLOAT32)
    program = load_program(model.package_path)
    assert "classify" in program.op_types()
    out = Interpreter(program, get_profile("fp32")).run({program.inputs[0][0]: x.numpy()}).outputs
    label, probs = out["classLabel"], out["classLabel_probs"]
    ref = net(x)[0].detach().numpy()
    assert label.item() == classes[int(np.argmax(ref))]
    assert list(probs) == classes
    np.testing.assert_allclose(list(probs.values()), ref, rtol=1e-5)


def _iou(a, b):
    """Center-size boxes (x, y, w, h)."""
    ax0, ax1, ay0, ay1 = a[0] - a[2] / 2, a[0] + a[2] / 2, a[1] - a[3] / 2, a[1] + a[3] / 2
    bx0, bx1, by0, by1 = b[0] - b[2] / 2, b[0] + b[2] / 2, b[1] - b[3] / 2, b[1] + b[3] / 2
    inter = max(0.0, min(ax1, bx1) - max(ax0, bx0)) * max(0.0, min(ay1, by1) - max(ay0, by0))
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def _nms(boxes, scores, iou_threshold, score_threshold, max_boxes, per_class):
    """Greedy NMS written out box by box, with the reference's fallback when nothing survives."""
    best, cls = scores.max(-1), scores.argmax(-1)
    order = sorted(range(len(best)), key=lambda i: -best[i])
    kept = []
    for i in order:
        if best[i] < score_threshold:
            continue
        if all(_iou(boxes[i], boxes[j]) <= iou_threshold or (per_class and cls[i] != cls[j]) for j in kept):
            kept.append(i)
    return (kept or [int(np.argmax(best))])[:max_boxes]


@op_settings
@given(seed=SEEDS, iou=st.sampled_from([0.1, 0.3, 0.6]), score=st.sampled_from([0.0, 0.3, 0.95]),
       max_boxes=st.integers(1, 8), per_class=st.booleans())
def test_non_maximum_suppression_keeps_the_greedy_selection_padded(run_mil, seed, iou, score, max_boxes, per_class):
    rng = np.random.default_rng(seed)
    boxes = np.concatenate([rng.uniform(0, 4, (2, 10, 2)), rng.uniform(0.5, 2, (2, 10, 2))], -1).astype(np.float32)
    scores = rng.uniform(0, 1, (2, 10, 3)).astype(np.float32)
    out_boxes, out_scores, out_index, counts = run_mil(
        lambda b, s: mb.non_maximum_suppression(boxes=b, scores=s, iou_threshold=np.float32(iou),
                                                score_threshold=np.float32(score), max_boxes=max_boxes,
                                                per_class_suppression=per_class), {"b": boxes, "s": scores})
    for k in range(2):
        ids = _nms(boxes[k], scores[k], np.float32(iou), np.float32(score), max_boxes, per_class)
        assert counts[k] == len(ids)
        np.testing.assert_array_equal(out_index[k], ids + [-1] * (max_boxes - len(ids)))
        np.testing.assert_array_equal(out_boxes[k, : len(ids)], boxes[k, ids])
        np.testing.assert_array_equal(out_scores[k, : len(ids)], scores[k, ids])
        assert not out_boxes[k, len(ids) :].any() and not out_scores[k, len(ids) :].any()


def test_non_maximum_suppression_ios17_boxes_last(run_mil):
    rng = np.random.default_rng(3)
    boxes = np.concatenate([rng.uniform(0, 4, (1, 10, 2)), rng.uniform(0.5, 2, (1, 10, 2))], -1).astype(np.float32)
    scores = rng.uniform(0, 1, (1, 10, 2)).astype(np.float32)
    out_boxes, out_scores, out_index = run_mil(
        lambda b, s: mb.non_maximum_suppression(boxes=b, scores=s, iou_threshold=np.float32(0.3), max_boxes=6),
        {"b": np.swapaxes(boxes, 1, 2).copy(), "s": np.swapaxes(scores, 1, 2).copy()}, opset=ct.target.iOS17)
    ids = _nms(boxes[0], scores[0], np.float32(0.3), -np.inf, 6, False)
    np.testing.assert_array_equal(out_index[0], ids + [-1] * (6 - len(ids)))
    np.testing.assert_array_equal(out_boxes[0, :, : len(ids)], boxes[0, ids].T)


def test_reading_past_a_fixed_list_fails_naming_the_op(run_mil):
    from harness.mil.interpreter import OpFailed

    def build(x):
        ls = mb.make_list(init_length=2, elem_shape=[3], dtype="fp32", dynamic_length=False)
        return mb.list_read(ls=mb.list_write(ls=ls, index=np.int32(0), value=x), index=np.int32(2))

    with pytest.raises(OpFailed, match=r"op list_read .* failed: IndexError: list index 2 is out of range"):
        run_mil(build, {"x": rand(0, 3)})
