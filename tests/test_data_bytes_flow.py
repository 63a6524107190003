"""The task data generators (byte corpus, word masking, image pairs with known flow), the flow helpers, and
the package's layering: data modules know no model, and no model module imports one above it."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from perceiver_lite.tasks.flow import (
    FLOW_IMAGES,
    FLOW_KINDS,
    classical_flow,
    color_wheel,
    end_point_error,
    flow_field,
    flow_pairs,
    flow_to_color,
    frame_patches,
    gray_image,
    level_patches,
    normalise_frames,
)
from perceiver_lite.tasks.text_data import (
    MASK_ID,
    STDLIB_MODULES,
    WHITESPACE,
    byte_windows,
    docstring_corpus,
    is_held_out,
    mask_words,
    masked_positions,
    split_of,
)


@pytest.fixture(scope="module")
def corpus():
    return docstring_corpus("train")


@pytest.fixture(scope="module")
def images():
    return [gray_image(name) for name in ("camera", "coins")]


# ---- the byte corpus -------------------------------------------------------------------------------------


def test_split_is_by_module_and_stable():
    held_out = [name for name in STDLIB_MODULES if is_held_out(name)]
    assert 0 < len(held_out) < len(STDLIB_MODULES)
    assert held_out == [
        "argparse",
        "decimal",
        "difflib",
        "getopt",
        "pathlib",
        "pickle",
        "secrets",
        "tempfile",
        "tokenize",
        "types",
        "urllib.parse",
    ]
    assert list(STDLIB_MODULES) == sorted(STDLIB_MODULES)


def test_corpus_deterministic_across_processes(corpus):
    """The same bytes in this process on every call and in fresh interpreters whatever their hash seed. Fresh
    interpreters are compared with each other, not with this process: a package imported earlier here by
    another test (bokeh, through Dask's dashboard) replaces warnings.formatwarning, which drops its
    docstring."""
    assert docstring_corpus("train") == corpus
    code = "import zlib; from perceiver_lite.tasks.text_data import docstring_corpus; "
    code += "print(zlib.crc32(docstring_corpus('train')))"
    checksums = [
        int(
            subprocess.run(
                [sys.executable, "-c", code],
                capture_output=True,
                text=True,
                check=True,
                env={"PYTHONHASHSEED": hash_seed, "PATH": ""},
            ).stdout
        )
        for hash_seed in ("1", "2")
    ]
    assert checksums[0] == checksums[1], checksums


def test_corpus_loses_a_docstring_a_package_replaces():
    code = (
        "import warnings; from perceiver_lite.tasks.text_data import module_docstrings; before = "
        "module_docstrings('warnings');"
        " warnings.formatwarning = lambda *args: ''; print(len(before) - len(module_docstrings('warnings')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PATH": ""}
    ).stdout
    assert (
        int(out) == 1
    )  # the replaced function's docstring is gone, as the comment in module_docstrings says


def test_corpus_splits_disjoint(corpus):
    held_out = docstring_corpus("held_out")
    assert isinstance(corpus, bytes) and len(corpus) > 100_000 and len(held_out) > 10_000
    corpus.decode("utf-8")  # valid UTF-8
    assert held_out[:200] not in corpus


def test_held_out_halves_into_validation_and_test(corpus):
    splits = {name: split_of(name) for name in STDLIB_MODULES}
    validation = [name for name, s in splits.items() if s == "validation"]
    test = [name for name, s in splits.items() if s == "test"]
    assert validation and test and not set(validation) & set(test)
    assert sorted(validation + test) == [name for name in STDLIB_MODULES if is_held_out(name)]
    halves = docstring_corpus("validation"), docstring_corpus("test")
    assert min(map(len, halves)) > 10_000  # each half holds enough text to score on
    assert halves[0][:200] not in halves[1] and halves[1][:200] not in halves[0]
    assert halves[0][:200] not in corpus and halves[1][:200] not in corpus
    with pytest.raises(ValueError, match="held_out_fraction must lie in \\(0, 1\\), got 0"):
        split_of("json", 0)


def test_byte_windows_shapes(corpus):
    ids = byte_windows(corpus, 64, 5, torch.Generator().manual_seed(0))
    assert ids.shape == (5, 64) and ids.dtype == torch.int64
    assert 0 <= int(ids.min()) and int(ids.max()) < 256
    torch.testing.assert_close(ids, byte_windows(corpus, 64, 5, torch.Generator().manual_seed(0)))
    row = bytes(ids[0].tolist())
    assert row in corpus


def test_mask_words_whole_words(corpus):
    generator = torch.Generator().manual_seed(0)
    ids = byte_windows(corpus, 128, 16, generator)
    mask = mask_words(ids, 0.3, generator)
    assert mask.dtype == torch.bool and mask.shape == ids.shape and mask.any()
    in_word = ~torch.isin(ids, WHITESPACE)
    assert not (mask & ~in_word).any()
    inside = in_word[:, 1:] & in_word[:, :-1]
    assert (mask[:, 1:] == mask[:, :-1])[inside].all()
    assert not mask_words(ids, 0.0).any()
    assert torch.equal(mask_words(ids, 1.0), in_word)


def test_masked_positions_round_trip(corpus):
    generator = torch.Generator().manual_seed(1)
    ids = byte_windows(corpus, 128, 8, generator)
    mask = mask_words(ids, 0.15, generator)
    indices, query_mask = masked_positions(mask)
    assert indices.dtype == torch.int64 and query_mask.dtype == torch.bool
    assert indices.shape == query_mask.shape == (8, int(mask.sum(1).max()))
    assert torch.equal(torch.zeros_like(mask).scatter(1, indices, query_mask), mask)
    assert MASK_ID == 256


@pytest.mark.parametrize(
    "call, text",
    [
        (lambda c: byte_windows(c, 0, 4), "length must be ≥ 1, got 0"),
        (lambda c: byte_windows(c, 8, -1), "batch_size must be ≥ 1, got -1"),
        (lambda c: byte_windows(b"abc", 8, 2), "at least length (8) bytes, got 3"),
        (
            lambda c: byte_windows("text, not bytes", 4, 2),
            "corpus must be bytes (encode text first), got str",
        ),
        (lambda c: mask_words(torch.zeros(4, dtype=torch.long)), "ids must be int64 (B, T), got"),
        (lambda c: mask_words(torch.zeros(2, 4, dtype=torch.long), -0.1), "got -0.1"),
        (lambda c: masked_positions(torch.zeros(2, 4)), "mask must be bool (B, T), got"),
        (
            lambda c: docstring_corpus("dev"),
            "split must be one of ('train', 'validation', 'test', 'held_out'), got 'dev'",
        ),
        (lambda c: docstring_corpus(held_out_fraction=1.5), "got 1.5"),
    ],
)
def test_byte_bad_input(corpus, call, text):
    with pytest.raises(ValueError, match="got") as error:
        call(corpus)
    assert text in str(error.value)


# ---- image pairs with known flow -------------------------------------------------------------------------


def warp(frame2, flow):
    "frame2 sampled at p + flow(p), and where that point lies inside the crop."
    batch, _, height, width = flow.shape
    axis_x, axis_y = torch.arange(width, dtype=torch.float32), torch.arange(height, dtype=torch.float32)
    where = torch.stack(torch.meshgrid(axis_x, axis_y, indexing="xy")) + flow
    grid = torch.stack([2 * where[:, 0] / (width - 1) - 1, 2 * where[:, 1] / (height - 1) - 1], dim=-1)
    return F.grid_sample(frame2[:, None], grid, align_corners=True)[:, 0], (grid.abs() <= 1).all(-1)


@pytest.mark.parametrize("kind", FLOW_KINDS)
def test_flow_maps_frame1_to_frame2(images, kind):
    frames, flow = flow_pairs(images, 6, 20, kind, 2.5, torch.Generator().manual_seed(0))
    assert frames.shape == flow.shape == (6, 2, 20, 20)
    assert frames.dtype == flow.dtype == torch.float32
    assert float(flow.abs().max()) <= 2.5 + 1e-6 and float(flow.abs().max()) > 0
    warped, inside = warp(frames[:, 1], flow)
    assert inside[:, 3:-3, 3:-3].all()  # interior pixels always land inside the crop
    torch.testing.assert_close(warped[inside], frames[:, 0][inside], atol=1e-5, rtol=0)
    assert not torch.allclose(frames[:, 0], frames[:, 1])  # the frames do differ


def test_classical_flow_follows_the_pairs_convention(images):
    frames, flow = flow_pairs(images, 6, 24, "shift", 1.5, torch.Generator().manual_seed(1))
    for method in ("ilk", "tvl1"):
        estimate = classical_flow(frames, method)
        assert estimate.shape == flow.shape and estimate.dtype == torch.float32
        right, negated = float(end_point_error(estimate, flow)), float(end_point_error(-estimate, flow))
        zero = float(end_point_error(torch.zeros_like(flow), flow))
        assert right < 0.5 * zero and right < negated, (method, right, negated, zero)
    with pytest.raises(ValueError, match="method must be"):
        classical_flow(frames, "farneback")
    with pytest.raises(ValueError, match=r"\(B, 2, H, W\)"):
        classical_flow(frames[:, :1], "ilk")


def test_shift_is_global_and_pairs_deterministic(images):
    frames, flow = flow_pairs(images, 3, 12, "shift", 2.0, torch.Generator().manual_seed(3))
    assert torch.equal(flow, flow[:, :, :1, :1].expand_as(flow))
    again = flow_pairs(images, 3, 12, "shift", 2.0, torch.Generator().manual_seed(3))
    assert torch.equal(frames, again[0]) and torch.equal(flow, again[1])
    assert flow_field("smooth", 9, 1.0).shape == (2, 9, 9)


def test_gray_image():
    image = gray_image("astronaut", downscale=4)
    assert image.shape == (128, 128) and image.dtype == torch.float32
    assert 0 <= float(image.min()) and float(image.max()) <= 1
    assert set(FLOW_IMAGES) >= {"camera", "chelsea", "coffee", "astronaut"}


@pytest.mark.parametrize(
    "call, text",
    [
        (lambda im: flow_pairs(im, 0, 16), "batch_size must be ≥ 1, got 0"),
        (lambda im: flow_pairs(im, 2, -1), "size must be ≥ 1, got -1"),
        (
            lambda im: flow_pairs(im, 2, 16, max_displacement=-1.0),
            "max_displacement must be finite and ≥ 0, got -1.0",
        ),
        (
            lambda im: flow_pairs(im, 2, 300),
            "H, W ≥ 306 (crop 300 plus a margin of 3 on each side), got torch.float32 (256, 256)",
        ),
        (lambda im: flow_pairs([], 2, 16), "got none"),
        (lambda im: flow_pairs(im, 2, 16, "zoom"), "got 'zoom'"),
        (lambda im: gray_image("lena"), "got 'lena'"),
        (lambda im: gray_image("camera", 0), "downscale must be ≥ 1, got 0"),
        (lambda im: flow_field("shift", 0, 1.0), "size must be ≥ 1, got 0"),
        (
            lambda im: flow_field("smooth", 8, float("nan")),
            "max_displacement must be finite and ≥ 0, got nan",
        ),
        (
            lambda im: normalise_frames(torch.zeros(2, 8, 8)),
            "frames must be floating (B, F, H, W), got torch.float32 (2, 8, 8)",
        ),
        (
            lambda im: normalise_frames(torch.zeros(1, 2, 8, 8, dtype=torch.long)),
            "got torch.int64 (1, 2, 8, 8)",
        ),
    ],
)
def test_flow_bad_input(images, call, text):
    with pytest.raises(ValueError, match="got") as error:
        call(images)
    assert text in str(error.value)


# ---- end-point error, colour wheel, patches --------------------------------------------------------------


def test_end_point_error():
    target = torch.randn(2, 2, 5, 5)
    assert float(end_point_error(target, target)) == 0.0
    shifted = target + torch.tensor([3.0, 4.0]).view(1, 2, 1, 1)
    torch.testing.assert_close(end_point_error(shifted, target), torch.tensor(5.0))
    torch.testing.assert_close(end_point_error(shifted, target), end_point_error(target, shifted))
    valid = torch.zeros(2, 5, 5, dtype=torch.bool)
    valid[0, 0, 0] = True
    prediction = target.clone()
    prediction[1] += 10
    assert float(end_point_error(prediction, target, valid)) == 0.0
    with pytest.raises(ValueError, match="got"):
        end_point_error(target, target[:, :1])
    with pytest.raises(ValueError, match="got"):
        end_point_error(target, target, valid.float())


def test_flow_to_color():
    flow = torch.randn(2, 6, 7)
    colors = flow_to_color(flow)
    assert colors.shape == (6, 7, 3) and colors.dtype == torch.float32
    assert (colors >= 0).all() and (colors <= 1).all()
    assert flow_to_color(torch.zeros(2, 3, 3)).eq(1).all()  # still is white
    direction = torch.tensor([1.0, 0.5]).view(2, 1, 1)
    full, half = flow_to_color(direction, 1.0)[0, 0], flow_to_color(0.5 * direction, 1.0)[0, 0]
    assert int(full.argmin()) == int(half.argmin()) and full.min() < half.min()  # same hue, less saturated
    assert not torch.allclose(flow_to_color(direction, 1.0), flow_to_color(-direction, 1.0))
    wheel = color_wheel(16)
    assert wheel.shape == (16, 16, 3) and wheel[0, 0].eq(1).all()
    with pytest.raises(ValueError, match="got"):
        flow_to_color(torch.zeros(1, 2, 3, 3))


def test_frame_patches():
    frames = torch.randn(2, 2, 5, 6)
    patches = frame_patches(frames)
    assert patches.shape == (2, 2, 9, 5, 6)
    torch.testing.assert_close(patches[:, :, 4], frames)  # the centre of each frame's 3×3 patch is the pixel
    torch.testing.assert_close(
        patches[:, 1, 5, :, :-1], frames[:, 1, :, 1:]
    )  # right of centre: the next column
    assert patches[:, 0, 5, :, -1].eq(0).all()  # beyond the right edge: zero padding
    normalised = normalise_frames(frames)
    torch.testing.assert_close(normalised.mean(dim=(1, 2, 3)), torch.zeros(2), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="got"):
        frame_patches(frames, patch_size=2)


def test_level_patches():
    frames = torch.randn(2, 2, 8, 12)
    patches = level_patches(frames, levels=3)
    assert patches.shape == (2, 2, 27, 8, 12)
    torch.testing.assert_close(patches[:, :, :9], frame_patches(frames))  # level 0: the 3×3 patches
    pooled = F.avg_pool2d(frames, 4)  # (2, 2, 2, 3): level 2's cells
    torch.testing.assert_close(patches[:, :, 18 + 4, 4:8, 8:12], pooled[:, :, 1:2, 2:3].expand(-1, -1, 4, 4))
    torch.testing.assert_close(
        patches[:, :, 9 + 5, 0, 0], F.avg_pool2d(frames, 2)[:, :, 0, 1]
    )  # right of centre
    torch.testing.assert_close(level_patches(frames, levels=1), frame_patches(frames))
    with pytest.raises(
        ValueError, match=r"multiples of 2\^\(levels − 1\) = 4, got torch.float32 \(1, 2, 6, 8\)"
    ):
        level_patches(torch.zeros(1, 2, 6, 8), levels=3)


# ---------------------------------------------------------------------------------------------- layering
PACKAGE = Path(__file__).resolve().parents[1] / "perceiver_lite"
# the core, in layers: the door's rules lie below every module (the configs' rules on the fields'); the
# subpackages sit on top
CORE = {
    "checks": -2,
    "config_checks": -1,
    "attention": 0,
    "position": 0,
    "blocks": 1,
    "perceiver": 2,
    "io": 3,
}
MODEL_MODULES = {"attention", "position", "blocks", "perceiver", "io"}


def package_imports(path):
    "The package modules a module imports, dotted from the package (nbdev writes them as relative imports)."
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = list(parts[: len(parts) - node.level])
            found.add(".".join(base + (node.module.split(".") if node.module else [])))
    return found


@pytest.mark.parametrize("module", ["text_data", "flow", "points"])
def test_data_modules_know_no_model(module):
    imported = {name.split(".")[0] for name in package_imports(PACKAGE / "tasks" / f"{module}.py")}
    assert not imported & MODEL_MODULES, f"tasks.{module} imports {imported & MODEL_MODULES}"


@pytest.mark.parametrize("module", sorted(CORE))
def test_the_core_imports_only_the_core_below_it(module):
    "No core module imports a subpackage (performance, runner, course, ...) or a layer at or above its own."
    imported = package_imports(PACKAGE / f"{module}.py")
    upward = {name for name in imported if CORE.get(name, 9) >= CORE[module]}
    assert not upward, f"{module} imports {upward}, which are not the core below it"


def test_the_layering_check_sees_an_upward_import(tmp_path, monkeypatch):
    fake = tmp_path / "perceiver_lite"
    fake.mkdir()
    (fake / "blocks.py").write_text("from .performance.fast import LatentSideCrossAttention\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    with pytest.raises(AssertionError, match="performance.fast"):
        test_the_core_imports_only_the_core_below_it("blocks")
