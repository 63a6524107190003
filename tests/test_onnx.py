"""perceiver_lite models exported with `torch.export` and to ONNX (`torch.onnx.export`, the dynamo exporter),
run at two input sizes each: the exported program gives PyTorch's outputs, and onnxruntime within 1e-5.

What can vary in an exported graph, and why:
- `Perceiver` (Fourier adapter): the batch. The position features are built per grid size in Python and
  cached by that size (`position.fourier_position_features`), so the grid, and with it M, is fixed.
- `PerceiverIO` (adapter 'none', learned queries): the batch and M.
- a converted classifier (`StemClassifier` of a `PerceiverForImageClassificationLearned`): the batch; M is
  the number of learned positions.

The door's check that inputs are finite (`checks.check_values`) branches on the tensor's values, which an
exported graph cannot do (its input contract is its shapes): it skips itself while `torch.export` traces.
The position-feature cache (`position.fourier_position_features`) is bypassed while `torch.export` traces
(a tensor made during a trace is a placeholder): the test exports with the cache cold and runs the model
eagerly afterwards from whatever the cache then holds.

Needs the `export` extra: `pip install -e ".[export]"`."""

import pytest
import torch

pytest.importorskip("onnxscript")
ort = pytest.importorskip("onnxruntime")

from perceiver_lite.io import DecoderConfig, PerceiverIO, PerceiverIOConfig  # noqa: E402
from perceiver_lite.perceiver import Perceiver, PerceiverConfig  # noqa: E402
from perceiver_lite.position import fourier_position_features  # noqa: E402

pytestmark = pytest.mark.slow  # minutes: kept out of the fast subset (pytest -m "not slow")

B = torch.export.Dim("batch", min=1, max=64)
M = torch.export.Dim("M", min=2, max=4096)


def perceiver():
    torch.manual_seed(0)
    model = Perceiver(
        PerceiverConfig(num_latents=8, latent_dim=32, num_self_attends_per_block=1, num_cross_attends=1)
    )
    return model.eval(), {"inputs": {0: B}}, [torch.randn(2, 40, 1), torch.randn(5, 40, 1)]


def perceiver_io():
    torch.manual_seed(0)
    config = PerceiverIOConfig(
        PerceiverConfig(adapter="none", input_channels=6, num_latents=8, latent_dim=32),
        DecoderConfig(query_dim=16, latent_dim=32, output_channels=3),
        num_queries=7,
    )
    return (
        PerceiverIO(config).eval(),
        {"inputs": {0: B, 1: M}},
        [torch.randn(2, 30, 6), torch.randn(5, 100, 6)],
    )


def converted_classifier():
    transformers = pytest.importorskip("transformers")
    from perceiver_lite.weights.convert import from_transformers

    torch.manual_seed(0)
    reference = transformers.PerceiverForImageClassificationLearned(
        transformers.PerceiverConfig(
            num_latents=8,
            d_latents=32,
            num_blocks=1,
            num_self_attends_per_block=1,
            num_self_attention_heads=4,
            num_cross_attention_heads=1,
            image_size=8,
            num_labels=5,
        )
    )
    with torch.no_grad():  # away from the initial scale 0.02, so that the logits are of order one
        for parameter in reference.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.2)
    return (
        from_transformers(reference.eval()),
        {"pixels": {0: B}},
        [torch.randn(2, 3, 8, 8), torch.randn(6, 3, 8, 8)],
    )


MODELS = {"Perceiver": perceiver, "PerceiverIO": perceiver_io, "converted classifier": converted_classifier}


@pytest.fixture(scope="module", params=list(MODELS))
def exported(request, tmp_path_factory):
    "(model, exported program, ONNX session, the two inputs), each model traced once for both tests."
    model, dynamic, inputs = MODELS[request.param]()
    with torch.no_grad():
        before = model(inputs[0])
        fourier_position_features.cache_clear()  # a cold cache: the trace is the first to ask for this grid
        program = torch.export.export(model, (inputs[0],), dynamic_shapes=dynamic)
        path = tmp_path_factory.mktemp("onnx") / "model.onnx"
        torch.onnx.export(program, dynamo=True, optimize=False).save(str(path))
        after = model(
            inputs[0]
        )  # eager again, from the same cache: no placeholder from the traces left in it
    assert torch.equal(before, after), "the eager model changed after the export"
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: onnxruntime warns about nodes it cannot constant-fold
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return model, program, session, inputs


def test_torch_export_gives_the_same_outputs_at_two_sizes(exported):
    model, program, _, inputs = exported
    for array in inputs:
        with torch.no_grad():
            got, expected = program.module()(array), model(array)
        assert got.shape == expected.shape and got.shape[0] == array.shape[0]
        torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-6)


def test_onnxruntime_within_1e_5_at_two_sizes(exported):
    model, _, session, inputs = exported
    assert len({tuple(array.shape) for array in inputs}) == 2
    for array in inputs:
        with torch.no_grad():
            expected = model(array)
        got = torch.from_numpy(session.run(None, {session.get_inputs()[0].name: array.numpy()})[0])
        assert got.shape == expected.shape
        assert (got - expected).abs().max().item() <= 1e-5 * max(expected.abs().max().item(), 1.0)


def test_the_eager_model_still_checks_its_inputs_after_an_export(exported):
    model, _, _, inputs = exported
    with torch.no_grad():
        broken = inputs[1].clone()
        broken.view(-1)[0] = float("nan")
        with pytest.raises(ValueError, match="must be finite"):
            model(broken)
