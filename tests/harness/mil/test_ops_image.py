"""Image resizing and sampling ops against torch's interpolate / grid_sample and the spec's worked examples."""

from __future__ import annotations

import coremltools as ct
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from coremltools.converters.mil import Builder as mb
from hypothesis import given
from hypothesis import strategies as st

from tests.harness.mil.conftest import SEEDS, op_settings, rand, t

RESAMPLE_TOL = dict(rtol=1e-5, atol=2e-5)


def test_bilinear_upsampling_through_torchs_frontend_matches_torch():
    """F.interpolate(bilinear) converted for real: sizes that are not multiples, both align_corners."""
    from harness.mil import Interpreter, get_profile, load_program

    cases = [((4, 6), (7, 9), True), ((5, 3), (11, 7), True), ((4, 6), (8, 12), False), ((3, 5), (9, 10), False),
             ((6, 4), (3, 2), True)]

    class Resize(torch.nn.Module):
        def forward(self, *xs):
            return tuple(F.interpolate(x, size=out, mode="bilinear", align_corners=ac)
                         for x, (_, out, ac) in zip(xs, cases, strict=True))

    xs = [torch.randn(1, 2, *shape, generator=torch.Generator().manual_seed(k))
          for k, (shape, _, _) in enumerate(cases)]
    model = ct.convert(torch.jit.trace(Resize().eval(), tuple(xs)), inputs=[ct.TensorType(shape=x.shape) for x in xs],
                       convert_to="mlprogram", minimum_deployment_target=ct.target.iOS15,
                       compute_precision=ct.precision.FLOAT32)
    program = load_program(model.package_path)
    assert "upsample_bilinear" in program.op_types()
    feeds = {name: x.numpy() for (name, _), x in zip(program.inputs, xs, strict=True)}
    got = Interpreter(program, get_profile("fp32")).run(feeds).outputs
    for out, ref, case in zip(got.values(), Resize()(*xs), cases, strict=True):
        np.testing.assert_allclose(out, ref.numpy(), rtol=1e-5, atol=1e-5, err_msg=str(case))


@op_settings
@given(seed=SEEDS, sh=st.integers(1, 3), sw=st.integers(1, 3), align=st.booleans())
def test_upsample_bilinear_matches_torch(run_mil, seed, sh, sw, align):
    x = rand(seed, 1, 2, 3, 5)
    got = run_mil(lambda x: mb.upsample_bilinear(x=x, scale_factor_height=sh, scale_factor_width=sw,
                                                 align_corners=align), {"x": x})
    ref = F.interpolate(t(x), scale_factor=(sh, sw), mode="bilinear", align_corners=align)
    np.testing.assert_allclose(got, ref.numpy(), **RESAMPLE_TOL)


def test_upsample_bilinear_ios16_without_half_pixel_centers_samples_at_i_times_in_over_out(run_mil):
    x = np.arange(4, dtype=np.float32).reshape(1, 1, 1, 4)
    got = run_mil(lambda x: mb.upsample_bilinear(x=x, scale_factor_height=1, scale_factor_width=2,
                                                 align_corners=False, half_pixel_centers=False), {"x": x},
                  opset=ct.target.iOS16)
    np.testing.assert_allclose(got.reshape(-1), [0, 0.5, 1, 1.5, 2, 2.5, 3, 3])  # positions i / 2, clamped at 3


#: The spec's worked example: Xin = 2 (values 0 and 1), grid points per sampling mode and Xout.
SPEC_GRIDS = {
    ("UNALIGN_CORNERS", 5): [0, 0.1, 0.5, 0.9, 1], ("STRICT_ALIGN_CORNERS", 5): [0, 0.25, 0.5, 0.75, 1],
    ("ALIGN_CORNERS", 5): [0, 0.25, 0.5, 0.75, 1], ("DEFAULT", 5): [0, 0.4, 0.8, 1, 1],
    ("OFFSET_CORNERS", 5): [0.1, 0.3, 0.5, 0.7, 0.9], ("UNALIGN_CORNERS", 6): [0, 0, 1 / 3, 2 / 3, 1, 1],
    ("STRICT_ALIGN_CORNERS", 6): [0, 0.2, 0.4, 0.6, 0.8, 1], ("DEFAULT", 6): [0, 1 / 3, 2 / 3, 1, 1, 1],
    ("OFFSET_CORNERS", 6): [1 / 12, 0.25, 5 / 12, 7 / 12, 0.75, 11 / 12],
}


@pytest.mark.parametrize("mode, out", sorted(SPEC_GRIDS))
def test_resize_bilinear_reproduces_the_specs_grid_examples(run_mil, mode, out):
    x = np.array([0, 1], np.float32).reshape(1, 1, 2)
    got = run_mil(lambda x: mb.resize_bilinear(x=x, target_size_height=1, target_size_width=out, sampling_mode=mode),
                  {"x": x})
    np.testing.assert_allclose(got.reshape(-1), SPEC_GRIDS[mode, out], atol=1e-6)


@op_settings
@given(seed=SEEDS, oh=st.integers(2, 9), ow=st.integers(2, 9), align=st.booleans())
def test_resize_bilinear_corner_modes_match_torch(run_mil, seed, oh, ow, align):
    x = rand(seed, 2, 3, 4, 6)
    mode = "STRICT_ALIGN_CORNERS" if align else "UNALIGN_CORNERS"
    got = run_mil(lambda x: mb.resize_bilinear(x=x, target_size_height=oh, target_size_width=ow, sampling_mode=mode),
                  {"x": x})
    np.testing.assert_allclose(got, F.interpolate(t(x), size=(oh, ow), mode="bilinear", align_corners=align).numpy(),
                               **RESAMPLE_TOL)


@op_settings
@given(seed=SEEDS, oh=st.integers(1, 13), ow=st.integers(1, 13))
def test_resize_nearest_neighbor_uses_half_pixel_centers(run_mil, seed, oh, ow):
    x = rand(seed, 1, 2, 5, 7)
    got = run_mil(lambda x: mb.resize_nearest_neighbor(x=x, target_size_height=oh, target_size_width=ow), {"x": x})
    np.testing.assert_array_equal(got, F.interpolate(t(x), size=(oh, ow), mode="nearest-exact").numpy())


def test_resize_nearest_neighbor_spec_example(run_mil):
    x = np.array([0.37, 6.17], np.float32).reshape(1, 1, 2, 1)
    got = run_mil(lambda x: mb.resize_nearest_neighbor(x=x, target_size_height=2, target_size_width=3), {"x": x})
    np.testing.assert_array_equal(got.reshape(-1), np.float32([0.37, 0.37, 0.37, 6.17, 6.17, 6.17]))


@op_settings
@given(seed=SEEDS, top=st.integers(0, 2), bottom=st.integers(0, 2), left=st.integers(0, 2), right=st.integers(0, 2))
def test_crop_drops_rows_and_columns(run_mil, seed, top, bottom, left, right):
    x = rand(seed, 2, 3, 6, 7)
    got = run_mil(lambda x: mb.crop(x=x, crop_height=[top, bottom], crop_width=[left, right]), {"x": x})
    np.testing.assert_array_equal(got, t(x).narrow(2, top, 6 - top - bottom).narrow(3, left, 7 - left - right).numpy())


def _grid_sample_boxes(x, boxes, th, tw):
    """torch: bilinear samples at each box's corner-aligned grid (pixel coords), through grid_sample."""
    _, _, h, w = x.shape
    out = []
    for image, (h0, w0, h1, w1) in boxes:
        ys = torch.linspace(h0, h1, th) if th > 1 else torch.tensor([(h0 + h1) / 2])
        xs = torch.linspace(w0, w1, tw) if tw > 1 else torch.tensor([(w0 + w1) / 2])
        gy, gx = torch.meshgrid(ys / (h - 1) * 2 - 1, xs / (w - 1) * 2 - 1, indexing="ij")
        grid = torch.stack([gx, gy], -1)[None].double()
        out.append(F.grid_sample(t(x[image : image + 1]).double(), grid, align_corners=True)[0])
    return torch.stack(out).numpy()


@op_settings
@given(seed=SEEDS, th=st.integers(1, 5), tw=st.integers(1, 5), normalized=st.booleans())
def test_crop_resize_samples_each_box_corner_to_corner(run_mil, seed, th, tw, normalized):
    x = rand(seed, 2, 3, 6, 8)
    rng = np.random.default_rng(seed)
    lo = rng.uniform(0, 0.5, size=(3, 2))
    hi = lo + rng.uniform(0.1, 0.5, size=(3, 2))
    boxes01 = np.concatenate([lo, hi], axis=1).astype(np.float32)  # [h0, w0, h1, w1] in [0, 1]
    scale = np.float32([5, 7, 5, 7])
    given_boxes = boxes01 if normalized else boxes01 * scale
    index = np.array([1, 0, 1], np.float32)
    roi = np.concatenate([index[:, None], given_boxes], axis=1).reshape(3, 1, 5, 1, 1)
    got = run_mil(lambda x: mb.crop_resize(x=x, roi=roi, target_height=th, target_width=tw,
                                           normalized_coordinates=normalized, sampling_mode="ALIGN_CORNERS"), {"x": x})
    ref = _grid_sample_boxes(x, [(int(i), b) for i, b in zip(index, boxes01 * scale, strict=True)], th, tw)
    np.testing.assert_allclose(got[:, 0], ref, **RESAMPLE_TOL)


def test_crop_resize_ios17_boxes_and_pad_value_outside_the_image(run_mil):
    x = rand(0, 1, 1, 4, 4)
    boxes = np.array([[0, 0, 3, 3], [-3, 0, 0, 3]], np.float32)  # the second box starts 3 rows above the image
    got = run_mil(lambda x: mb.crop_resize(x=x, boxes=boxes, box_indices=np.array([0, 0], np.int32), target_height=4,
                                           target_width=4, sampling_mode="STRICT_ALIGN_CORNERS", pad_value=9.0),
                  {"x": x}, opset=ct.target.iOS17)
    np.testing.assert_allclose(got[0, 0], x[0, 0], rtol=1e-6)
    np.testing.assert_array_equal(got[1, 0, :3], 9.0)
    np.testing.assert_allclose(got[1, 0, 3], x[0, 0, 0], rtol=1e-6)


@op_settings
@given(seed=SEEDS, sampling=st.sampled_from(["bilinear", "nearest"]),
       padding=st.sampled_from(["zeros", "border", "reflection"]), align=st.booleans())
def test_resample_matches_grid_sample(run_mil, seed, sampling, padding, align):
    """torch's grid_sample modes, as coremltools maps them (reflection without align_corners is symmetric)."""
    x = rand(seed, 2, 3, 5, 6)
    grid = np.random.default_rng(seed).uniform(-1.4, 1.4, size=(2, 4, 7, 2)).astype(np.float32)
    mil_padding = {"zeros": "constant", "border": "border",
                   "reflection": "reflection" if align else "symmetric"}[padding]
    got = run_mil(lambda x, g: mb.resample(x=x, coordinates=g, sampling_mode=sampling, padding_mode=mil_padding,
                                           padding_value=np.float32(0), coordinates_mode="normalized_minus_one_to_one",
                                           align_corners=align), {"x": x, "g": grid})
    ref = F.grid_sample(t(x), t(grid), mode=sampling, padding_mode=padding, align_corners=align)
    np.testing.assert_allclose(got, ref.numpy(), **RESAMPLE_TOL)


def test_resample_unnormalized_and_zero_to_one_coordinates(run_mil):
    x = np.arange(12, dtype=np.float32).reshape(1, 1, 3, 4)
    pixels = np.array([[[[0, 0], [3, 2], [1.5, 1]]]], np.float32)  # (x, y) in pixels
    unit = pixels / np.float32([3, 2])

    def build(x, p, u):
        common = dict(sampling_mode="bilinear", padding_mode="border", padding_value=np.float32(0), align_corners=True)
        return (mb.resample(x=x, coordinates=p, coordinates_mode="unnormalized", **common),
                mb.resample(x=x, coordinates=u, coordinates_mode="normalized_zero_to_one", **common))

    raw, zero_one = run_mil(build, {"x": x, "p": pixels, "u": unit})
    np.testing.assert_allclose(raw.reshape(-1), [0, 11, 5.5], rtol=1e-6)
    np.testing.assert_allclose(zero_one, raw, rtol=1e-6)


@op_settings
@given(seed=SEEDS, align=st.booleans(), per_batch=st.booleans())
def test_affine_matches_affine_grid_and_grid_sample(run_mil, seed, align, per_batch):
    x = rand(seed, 2, 3, 5, 6)
    rng = np.random.default_rng(seed)
    theta = (np.eye(2, 3) + rng.normal(scale=0.3, size=(2 if per_batch else 1, 2, 3))).astype(np.float32)
    got = run_mil(lambda x: mb.affine(x=x, transform_matrix=theta.reshape(-1, 6), output_height=4, output_width=7,
                                      sampling_mode="bilinear", padding_mode="constant", padding_value=np.float32(0),
                                      coordinates_mode="normalized_minus_one_to_one", align_corners=align), {"x": x})
    full = t(np.broadcast_to(theta, (2, 2, 3)).copy())
    ref = F.grid_sample(t(x), F.affine_grid(full, [2, 3, 4, 7], align_corners=align), align_corners=align)
    np.testing.assert_allclose(got, ref.numpy(), **RESAMPLE_TOL)


IOS17 = ct.target.iOS17


@op_settings
@given(seed=SEEDS, dims=st.sampled_from([1, 2, 3]), sizes=st.tuples(st.integers(1, 7), st.integers(1, 7),
                                                                     st.integers(1, 9)), align=st.booleans())
def test_resize_linear_matches_torchs_interpolate_over_one_two_or_three_axes(run_mil, seed, dims, sizes, align):
    """iOS17 resize: LINEAR over the last `resized_dims` axes (linear, bilinear, trilinear in torch)."""
    x = rand(seed, 1, 2, 3, 4, 5)
    out = sizes[3 - dims:]
    mode = "STRICT_ALIGN_CORNERS" if align else "UNALIGN_CORNERS"
    got = run_mil(lambda x: mb.resize(x=x, shape=list(out), resized_dims=np.uint32(dims), sampling_mode=mode),
                  {"x": x}, opset=IOS17)
    torch_mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[dims]
    ref = F.interpolate(t(x.reshape(-1, 1, *x.shape[5 - dims:])), size=out, mode=torch_mode, align_corners=align)
    np.testing.assert_allclose(got, ref.numpy().reshape(*x.shape[:5 - dims], *out), **RESAMPLE_TOL)


@op_settings
@given(seed=SEEDS, oh=st.integers(1, 9), ow=st.integers(1, 9), mode=st.sampled_from(sorted(
    {m for m, _ in SPEC_GRIDS})))
def test_resize_linear_of_two_axes_is_resize_bilinear(run_mil, seed, oh, ow, mode):
    x = rand(seed, 2, 3, 4, 6)
    got = run_mil(lambda x: mb.resize(x=x, shape=[oh, ow], resized_dims=np.uint32(2), sampling_mode=mode), {"x": x},
                  opset=IOS17)
    want = run_mil(lambda x: mb.resize_bilinear(x=x, target_size_height=oh, target_size_width=ow,
                                                sampling_mode=mode), {"x": x})
    np.testing.assert_array_equal(got, want)


@op_settings
@given(seed=SEEDS, oh=st.integers(1, 13), ow=st.integers(1, 13))
def test_resize_nearest_neighbor_from_a_runtime_shape_matches_torchs_nearest_exact(run_mil, seed, oh, ow):
    x = rand(seed, 1, 2, 5, 7)
    got = run_mil(lambda x, shape: mb.resize(x=x, shape=shape, resized_dims=np.uint32(2),
                                             interpolation_mode="NEAREST_NEIGHBOR"),
                  {"x": x, "shape": np.array([2, oh, ow], np.int32)}, opset=IOS17)
    np.testing.assert_array_equal(got, F.interpolate(t(x), size=(oh, ow), mode="nearest-exact").numpy())


def test_resize_reproduces_apples_examples_and_keeps_sizes_given_as_zero(run_mil):
    nearest = run_mil(lambda x: mb.resize(x=x, shape=[1, 1, 3, 2], resized_dims=np.uint32(2),
                                          interpolation_mode="NEAREST_NEIGHBOR"),
                      {"x": np.array([-6.174, 9.371], np.float32).reshape(1, 1, 1, 2, 1)}, opset=IOS17)
    np.testing.assert_array_equal(nearest.reshape(-1), np.float32([-6.174, -6.174, 9.371, 9.371, 9.371, 9.371]))
    linear = run_mil(lambda x: mb.resize(x=x, shape=[1, 1, 5], resized_dims=np.uint32(2)),
                     {"x": np.array([0, 1], np.float32).reshape(1, 1, 2)}, opset=IOS17)
    np.testing.assert_allclose(linear.reshape(-1), [0, 0.4, 0.8, 1, 1], atol=1e-6)
    x = rand(0, 2, 3, 4)
    kept = run_mil(lambda x: mb.resize(x=x, shape=[0, 6], resized_dims=np.uint32(2)), {"x": x}, opset=IOS17)
    given = run_mil(lambda x: mb.resize(x=x, shape=[3, 6], resized_dims=np.uint32(2)), {"x": x}, opset=IOS17)
    assert kept.shape == (2, 3, 6)
    np.testing.assert_array_equal(kept, given)


def test_resize_refuses_what_its_spec_leaves_undefined(run_mil):
    from harness.mil.interpreter import UnsupportedOp

    with pytest.raises(UnsupportedOp, match="NEAREST_NEIGHBOR with sampling_mode 'ALIGN_CORNERS'"):
        run_mil(lambda x: mb.resize(x=x, shape=[3, 4], resized_dims=np.uint32(2), interpolation_mode="NEAREST_NEIGHBOR",
                                    sampling_mode="ALIGN_CORNERS"), {"x": rand(0, 1, 2, 2)}, opset=IOS17)
