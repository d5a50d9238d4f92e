"""The recurrent CUDA kernels and their host loops (csrc/recurrent/recurrent_cuda_kernels.cuh) run on the host
by tests/ops/emulated/cuda_emulation.h, since CI has no GPU: outputs and every gradient of each cell against
the float64 reference by the flash rule, in all four dtypes, with and without per-row lengths, through the
per-step kernels and the persistent ones (one cooperative launch; every batch tested is small enough for them)."""

from __future__ import annotations

import pytest
import torch

from ..conftest import load_emulated
from .test_recurrent import LAYER_CELLS, _wrt, assert_layer_matches_float64, layer_case


@pytest.fixture(scope="module")
def emulated(tmp_path_factory):
    return load_emulated("recurrent.cpp", tmp_path_factory.mktemp("emulated"))


def emulated_layer(emulated, persistent):
    """Runs a layer through the emulated forward, then its emulated backward with the upstream gradients."""

    def run(cell, inputs, upstream):
        x = _wrt(cell, inputs)
        out, h_n, c_n, cells, gates = getattr(emulated, f"{cell}_forward")(
            inputs["x_proj"], inputs["w_hh"], inputs["b_hh"], inputs["h0"], inputs["c0"], inputs["lengths"], True, persistent)
        grad_x, grad_w, grad_h0, grad_c0, grad_hidden = getattr(emulated, f"{cell}_backward")(
            upstream["grad_out"], upstream["grad_h_n"], upstream["grad_c_n"], inputs["w_hh"], inputs["h0"],
            inputs["c0"], inputs["lengths"], out, cells, gates, persistent)
        outputs = [out, h_n] + ([c_n] if cell == "lstm" else [])
        grads = {"x_proj": grad_x, "w_hh": grad_w, "h0": grad_h0, "c0": grad_c0,
                 "b_hh": grad_hidden.sum((0, 1)) if cell == "gru" else None}
        return outputs + [grads[name] for name in x]

    return run


@pytest.mark.parametrize("persistent", [False, True], ids=["per_step", "persistent"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("with_lengths", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("cell", LAYER_CELLS)
def test_emulated_cuda_kernels_match_float64_reference(emulated, cell, with_lengths, dtype, persistent):
    assert_layer_matches_float64(cell, dtype, "cpu", with_lengths, emulated_layer(emulated, persistent))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("cell", LAYER_CELLS)
def test_emulated_persistent_kernels_split_wide_layers(emulated, cell, dtype):
    """H = 37 over the emulated grid's 16 warps: each warp's lanes split sums of 37 terms (lanes 0-4 add two)
    for several units in turn, and the backward's grid-stride loops turn too."""
    assert_layer_matches_float64(cell, dtype, "cpu", True, emulated_layer(emulated, True), size=(4, 2, 37))


@pytest.mark.parametrize("persistent", [False, True], ids=["per_step", "persistent"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_emulated_inference_saves_nothing_and_computes_the_same(emulated, cell, persistent):
    inputs, _ = layer_case(cell, torch.float32, "cpu", True)
    args = [inputs[k] for k in ("x_proj", "w_hh", "b_hh", "h0", "c0", "lengths")]
    forward = getattr(emulated, f"{cell}_forward")
    trained, inferred = forward(*args, True, persistent), forward(*args, False, persistent)
    for ours, theirs in zip(inferred[:3], trained[:3]):  # out, h_n, c_n (undefined for the GRU)
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    assert all(saved.numel() == 0 for saved in inferred[3:] if saved is not None)
