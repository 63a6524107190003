"""The exercises' checker: every solution in appendix A8 passes its check, typical wrong answers written
here as a learner would write them are caught with the intended diagnosis, and the exercise cells
committed in notebooks 01–05 hold unsolved stubs whose stored output says "not attempted"."""

import contextlib
import io
import json
import math
from pathlib import Path

import pytest
import torch
from einops import rearrange

from perceiver_lite.course.exercises import EXERCISES, check
from perceiver_lite.position import fourier_position_features, frequency_bands, linear_positions

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = {
    name: ROOT / "notebooks" / f"{name}.ipynb"
    for name in (
        "01_attention",
        "02_position_encoding",
        "03_latent_bottleneck",
        "04_perceiver",
        "05_perceiver_io",
        "12_perceiver_ar",
        "15_when_it_goes_wrong",
    )
}


def quietly(check_function, answer):
    "Run a check, keep its printed line out of the test log, return the verdict."
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        verdict = check_function(answer)
    assert printed.getvalue().strip() == verdict.message
    return verdict


def code_cells(path):
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


@pytest.fixture(scope="module")
def solutions():
    "The namespace left by running appendix A8's code cells (each defines `my_<exercise>` and checks it)."
    namespace = {}
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in code_cells(ROOT / "notebooks" / "A8_solutions.ipynb"):
            exec(compile("".join(cell["source"]), "A8_solutions", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("name", list(EXERCISES))
def test_every_solution_passes(name, solutions):
    verdict = quietly(getattr(check, name), solutions[f"my_{name}"])
    assert verdict.ok and verdict.attempted, verdict.message
    assert verdict.message.startswith(f"✓ {name}:")


# ---- typical wrong answers, as a learner would write them -------------------------------------------------


def attention_unscaled(q, k, v, mask=None, scale=None):
    scores = q @ k.transpose(-1, -2)
    if mask is not None:
        scores = scores.masked_fill(~mask, -math.inf)
    return scores.softmax(-1) @ v, scores.softmax(-1)


def attention_rows(q, k, v, mask=None, scale=None):
    weights = torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, dim=-2)
    return weights @ v, weights


def attention_masked_with_zero(q, k, v, mask=None, scale=None):
    scores = (
        q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]) if scale is None else q @ k.transpose(-1, -2) * scale
    )
    scores = scores if mask is None else scores * mask  # zero where masked
    return scores.softmax(-1) @ v, scores.softmax(-1)


def attention_mask_ignored(q, k, v, mask=None, scale=None):
    scores = (
        q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]) if scale is None else q @ k.transpose(-1, -2) * scale
    )
    return scores.softmax(-1) @ v, scores.softmax(-1)


def attention_ignores_scale(q, k, v, mask=None, scale=None):
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    scores = scores if mask is None else scores.masked_fill(~mask, -math.inf)
    return scores.softmax(-1) @ v, scores.softmax(-1)


def split_heads_view(array, num_heads):
    batch, inputs, channels = array.shape
    return array.view(batch, num_heads, inputs, channels // num_heads)


def fourier_cos_first(positions, num_bands, max_resolution, concat_pos=True, sine_only=False):
    phases = math.pi * (positions[:, :, None] * frequency_bands(num_bands, max_resolution)).flatten(1)
    waves = [torch.sin(phases)] if sine_only else [torch.cos(phases), torch.sin(phases)]
    return torch.cat(([positions] if concat_pos else []) + waves, dim=-1)


def fourier_band_major(positions, num_bands, max_resolution, concat_pos=True, sine_only=False):
    phases = positions[:, None, :] * frequency_bands(num_bands, max_resolution).T  # (M, K, A)
    phases = math.pi * phases.flatten(1)
    waves = [torch.sin(phases)] if sine_only else [torch.sin(phases), torch.cos(phases)]
    return torch.cat(([positions] if concat_pos else []) + waves, dim=-1)


def fourier_without_pi(positions, num_bands, max_resolution, concat_pos=True, sine_only=False):
    phases = (positions[:, :, None] * frequency_bands(num_bands, max_resolution)).flatten(1)
    waves = [torch.sin(phases)] if sine_only else [torch.sin(phases), torch.cos(phases)]
    return torch.cat(([positions] if concat_pos else []) + waves, dim=-1)


def block_no_query_residual(block, queries, inputs):
    attended, _ = block.attention(block.q_norm(queries), block.kv_norm(inputs))
    return attended + block.mlp(block.mlp_norm(attended))


def block_roles_swapped(block, queries, inputs):
    attended, _ = block.attention(block.q_norm(inputs), block.kv_norm(queries))
    return attended + block.mlp(block.mlp_norm(attended))


def block_raw_inputs(block, queries, inputs):
    attended, _ = block.attention(block.q_norm(queries), inputs)
    attended = attended + queries if block.use_query_residual else attended
    return attended + block.mlp(block.mlp_norm(attended))


def block_mlp_without_residual(block, queries, inputs):
    attended, _ = block.attention(block.q_norm(queries), block.kv_norm(inputs))
    attended = attended + queries if block.use_query_residual else attended
    return block.mlp(block.mlp_norm(attended))


def schedule_first_shared(num_blocks, num_cross_attends, share_weights):
    return [(0 if b < num_cross_attends else None, 0 if share_weights else b) for b in range(num_blocks)]


def schedule_never_shared(num_blocks, num_cross_attends, share_weights):
    return [(b if b < num_cross_attends else None, b) for b in range(num_blocks)]


def schedule_reads_everywhere(num_blocks, num_cross_attends, share_weights):
    return [(min(b, 1) if share_weights else b, 0 if share_weights else b) for b in range(num_blocks)]


def encode_tower_only_after_read(encoder, inputs):
    latents = encoder.latents.expand(len(inputs), -1, -1)
    for cross_attend, tower in encoder.schedule:
        if cross_attend is not None:
            latents = tower(cross_attend(latents, inputs)[0])
    return latents


def encode_read_once(encoder, inputs):
    latents = encoder.latents.expand(len(inputs), -1, -1)
    for b, (cross_attend, tower) in enumerate(encoder.schedule):
        if b == 0:
            latents = cross_attend(latents, inputs)[0]
        latents = tower(latents)
    return latents


def encode_from_the_start(encoder, inputs):
    start = latents = encoder.latents.expand(len(inputs), -1, -1)
    for cross_attend, tower in encoder.schedule:
        if cross_attend is not None:
            latents = cross_attend(start, inputs)[0]
        latents = tower(latents)
    return latents


def decode_swapped(decoder, queries, latents, query_mask=None):
    return decoder.postprocessor(decoder.cross_attend(latents, queries)[0])


def decode_no_postprocessor(decoder, queries, latents, query_mask=None):
    outputs = decoder.cross_attend(queries, latents)[0]
    return outputs if query_mask is None else outputs * query_mask[..., None]


def decode_mask_ignored(decoder, queries, latents, query_mask=None):
    return decoder.postprocessor(decoder.cross_attend(queries, latents)[0])


def queries_column_major(index_dims, num_bands, max_resolution=None, indices=None):
    features = fourier_position_features(tuple(index_dims), num_bands, tuple(max_resolution or index_dims))
    axes = len(index_dims)  # list the points with the first axis moving fastest
    features = (
        features.reshape(*index_dims, -1).permute(*reversed(range(axes)), axes).reshape(len(features), -1)
    )
    return features if indices is None else features[indices]


def queries_whole_grid(index_dims, num_bands, max_resolution=None, indices=None):
    return fourier_position_features(tuple(index_dims), num_bands, tuple(max_resolution or index_dims))


def queries_grid_resolution(index_dims, num_bands, max_resolution=None, indices=None):
    features = fourier_position_features(tuple(index_dims), num_bands, tuple(index_dims))
    return features if indices is None else features[indices]


def ar_from_start(num_inputs, num_latents):
    return torch.ones(num_latents, num_inputs, dtype=torch.bool).tril()


def ar_transposed(num_inputs, num_latents):
    return torch.ones(num_latents, num_inputs, dtype=torch.bool).tril(num_inputs - num_latents).T


def ar_strict(num_inputs, num_latents):
    return torch.ones(num_latents, num_inputs, dtype=torch.bool).tril(num_inputs - num_latents - 1)


def shuffled_after(inputs, positions, order):
    return torch.cat([inputs[:, order], positions.expand(len(inputs), -1, -1)], dim=-1)


def shuffled_positions_only(inputs, positions, order):
    return torch.cat([inputs, positions[order].expand(len(inputs), -1, -1)], dim=-1)


def shuffled_inverse(inputs, positions, order):
    attached = torch.cat([inputs, positions.expand(len(inputs), -1, -1)], dim=-1)
    return attached[:, order.argsort()]


WRONG = {
    "attention": [
        (attention_unscaled, "forgot to scale by √d"),
        (attention_rows, "softmax over the wrong axis"),
        (attention_masked_with_zero, "masked scores set to 0"),
        (attention_mask_ignored, "mask ignored"),
        (attention_ignores_scale, "`scale` ignored"),
        (lambda q, k, v, mask=None, scale=None: (q @ k.transpose(-1, -2)).softmax(-1), "expected a tuple"),
    ],
    "split_heads": [
        (lambda a, h: rearrange(a, "b m (h d) -> b m h d", h=h), "the head axis stayed behind M"),
        (lambda a, h: rearrange(a, "b m (d h) -> b h m d", h=h), "round-robin"),
        (split_heads_view, "reshaped straight to (B, h, M, d)"),
    ],
    "merge_heads": [
        (lambda a: rearrange(a, "b h m d -> b m (d h)"), "heads merged in the wrong order"),
        (lambda a: a.reshape(a.shape[0], a.shape[2], -1), "without moving the head axis back"),
        (lambda a: a.flatten(1, 2), "stacked the heads along the inputs"),
    ],
    "linear_positions": [
        (
            lambda dims, rng=(-1.0, 1.0): torch.stack(
                torch.meshgrid(*[torch.linspace(*rng, s) for s in dims], indexing="xy"), -1
            ),
            "indexing='xy'",
        ),
        (
            lambda dims, rng=(-1.0, 1.0): torch.stack(
                torch.meshgrid(*[torch.linspace(0, 1, s) for s in dims], indexing="ij"), -1
            ),
            "coordinates span [0, 1]",
        ),
        (
            lambda dims, rng=(-1.0, 1.0): torch.stack(
                torch.meshgrid(
                    *[rng[0] + (rng[1] - rng[0]) * torch.arange(s) / s for s in dims], indexing="ij"
                ),
                -1,
            ),
            "falls short of the end",
        ),
        (
            lambda dims, rng=(-1.0, 1.0): linear_positions(dims, rng).reshape(-1, len(dims)),
            "flattened to (M, A)",
        ),
    ],
    "frequency_bands": [
        (
            lambda k, mu, spacing="linear": torch.stack([torch.linspace(1, r, k) for r in mu]),
            "the bands reach μ",
        ),
        (
            lambda k, mu, spacing="linear": torch.stack([torch.linspace(1, r / 2, k) for r in mu]),
            "log spacing ignored",
        ),
        (lambda k, mu, spacing="linear": frequency_bands(k, mu, spacing).T, "shape (K, A)"),
        (
            lambda k, mu, spacing="linear": frequency_bands(k, (mu[0],) * len(mu), spacing),
            "the first axis's μ",
        ),
    ],
    "fourier_features": [
        (fourier_cos_first, "cosines before sines"),
        (fourier_band_major, "bands before axes"),
        (fourier_without_pi, "forgot π"),
    ],
    "cross_attention_block": [
        (block_no_query_residual, "forgot the query residual"),
        (block_roles_swapped, "roles swapped"),
        (block_raw_inputs, "inputs were not layer-normalised"),
        (block_mlp_without_residual, "the MLP's output replaced the latents"),
    ],
    "read_cost": [
        (lambda m, n, h=1: h * m * m, "counted M²"),
        (lambda m, n, h=1: m * n, "forgot the heads"),
        (lambda m, n, h=1: h * n * n, "counted N²"),
        (lambda m, n, h=1: h * (m + n), "added M and N"),
    ],
    "sharing_schedule": [
        (schedule_first_shared, "the first cross-attend is shared too"),
        (schedule_never_shared, "weights not shared"),
        (schedule_reads_everywhere, "a cross-attend in every block"),
    ],
    "encoder_forward": [
        (encode_tower_only_after_read, "the tower only ran in blocks that read"),
        (encode_read_once, "read only once"),
        (encode_from_the_start, "with the initial latents"),
    ],
    "decoder_forward": [
        (decode_swapped, "roles swapped"),
        (decode_no_postprocessor, "the postprocessor was skipped"),
        (decode_mask_ignored, "masked queries not zeroed"),
    ],
    "fourier_queries": [
        (queries_column_major, "column-major order"),
        (queries_whole_grid, "indices ignored"),
        (queries_grid_resolution, "max_resolution ignored"),
    ],
    "input_queries": [
        (lambda x, idx: x[:, idx[0]], "the first example's indices used for every example"),
        (lambda x, idx: x[:, idx], "pairs every example with every example's indices"),
    ],
    "causal_mask": [
        (lambda t: torch.ones(t, t, dtype=torch.bool).triu(), "the future instead of the past"),
        (lambda t: torch.ones(t, t, dtype=torch.bool).tril(-1), "the diagonal is masked"),
        (lambda t: torch.ones(t, t).tril(), "a float mask"),
        (lambda t: torch.full((t, t), -math.inf).triu(1), "an additive mask"),
        (lambda t: torch.ones(t, t, dtype=torch.bool).triu(1), "inverted"),
    ],
    "perceiver_ar_mask": [
        (ar_from_start, "aligned to the start"),
        (ar_transposed, "shape (M, N)"),
        (ar_strict, "the latent's own position is masked"),
        (lambda m, n: torch.ones(n, n, dtype=torch.bool).tril(), "the latent tower's (N, N) causal mask"),
        (lambda m, n: torch.ones(n, m, dtype=torch.bool), "no causal mask"),
    ],
    "read_inputs": [
        (lambda block, latents, inputs: block(latents, latents)[0], "the latents read themselves"),
        (lambda block, latents, inputs: block(inputs, latents)[0], "the roles are swapped"),
        (lambda block, latents, inputs: latents, "the latents came back unread"),
        (lambda block, latents, inputs: block(latents, inputs), "the whole (output, weights) pair"),
    ],
    "keep_mask": [
        (lambda lengths, m: torch.arange(m)[None, :] >= lengths[:, None], "True at the padding"),
        (lambda lengths, m: torch.arange(m)[None, :] <= lengths[:, None], "one padding element kept"),
        (lambda lengths, m: (torch.arange(m)[None, :] < lengths[:, None]).float(), "a float mask"),
        (lambda lengths, m: torch.arange(m)[:, None] < lengths[None, :], "shape (max_length, B)"),
    ],
    "shuffled_array": [
        (shuffled_after, "attached after shuffling"),
        (shuffled_positions_only, "the positions were shuffled and the values not"),
        (shuffled_inverse, "the inverse permutation"),
    ],
}
CASES = [(name, wrong, words) for name, answers in WRONG.items() for wrong, words in answers]


def test_every_exercise_has_two_wrong_answers_here():
    assert set(WRONG) == set(EXERCISES)
    assert all(len(answers) >= 2 for answers in WRONG.values())


@pytest.mark.parametrize("name, wrong, words", CASES, ids=[f"{n}-{w[:30]}" for n, _, w in CASES])
def test_wrong_answer_is_diagnosed(name, wrong, words):
    verdict = quietly(getattr(check, name), wrong)
    assert not verdict.ok and verdict.attempted
    assert verdict.message.startswith(f"✗ {name}:") and words in verdict.message, verdict.message


def test_an_unfilled_stub_is_not_attempted_and_a_crash_is_reported():
    def my_attention(queries, keys, values, mask=None, scale=None):
        raise NotImplementedError("hint")

    verdict = quietly(check.attention, my_attention)
    assert (verdict.ok, verdict.attempted) == (False, False) and "not attempted yet" in verdict.message
    assert "my_attention" in verdict.message and "A8_solutions" in verdict.message
    crash = quietly(check.attention, lambda q, k, v, mask=None, scale=None: q @ k)
    assert crash.attempted and "raised RuntimeError" in crash.message


def test_a_partial_answer_that_stops_later_is_not_called_unattempted():
    def no_masks_yet(q, k, v, mask=None, scale=None):
        if mask is not None:
            raise NotImplementedError("masks next")
        weights = (
            q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
            if scale is None
            else q @ k.transpose(-1, -2) * scale
        ).softmax(-1)
        return weights @ v, weights

    verdict = quietly(check.attention, no_masks_yet)
    assert verdict.attempted and "raised NotImplementedError on a mask" in verdict.message


def test_checks_leave_the_random_state_alone():
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    quietly(check.cross_attention_block, lambda block, q, x: block(q, x)[0])
    assert torch.equal(torch.rand(3), expected)


def test_notebook_exercise_cells_hold_unsolved_stubs():
    found = {}
    for notebook, path in NOTEBOOKS.items():
        for cell in code_cells(path):
            source = "".join(cell["source"])
            calls = [name for name in EXERCISES if f"check.{name}(my_{name})" in source]
            if not calls:
                continue
            (name,) = calls
            text = "".join("".join(o.get("text", "")) for o in cell["outputs"])  # a string or a list of lines
            assert "raise NotImplementedError(" in source and f"def my_{name}(" in source, source
            assert cell["execution_count"] is not None and source.startswith("# NBVAL_CHECK_OUTPUT")
            assert f"· {name}: not attempted yet" in text, f"{notebook}: {text!r}"
            assert EXERCISES[name].notebook == notebook
            found.setdefault(notebook, []).append(name)
    assert all(2 <= len(names) <= 3 for names in found.values()) and set(found) == set(NOTEBOOKS), found
    in_notebooks = sorted(name for names in found.values() for name in names)
    assert (
        in_notebooks == sorted(n for n, e in EXERCISES.items() if e.notebook in NOTEBOOKS)
        and len(in_notebooks) >= 12
    )
