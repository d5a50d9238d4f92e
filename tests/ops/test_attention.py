"""Attention: our kernel against the float64 reference (flash-attention's 2x rule), gradcheck, opcheck,
compile/export, masks, causal, GQA, fully masked rows, dropout, and errors that name the argument; the
reference backend's path (PyTorch's fused SDPA with our rule for fully masked rows) against the same oracle."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from zoo.check import within_flash_rule
from zoo.ops import backend, scaled_dot_product_attention as sdpa
from zoo.ops import scaled_dot_product_attention_reference as reference
from zoo.tolerances import tolerance

from ..conftest import DEVICES

# (B, Hq, Hkv, Lq, Lk, D, Dv, is_causal, mask kind)
CASES = [
    (2, 4, 4, 7, 97, 64, 64, False, None),
    (1, 4, 2, 130, 70, 80, 48, True, None),       # GQA, causal with Lq > Lk, odd head dim
    (1, 2, 2, 70, 130, 96, 96, True, None),       # causal with Lq < Lk (top-left aligned)
    (2, 2, 1, 65, 129, 32, 32, False, "bool"),
    (1, 2, 2, 1, 1025, 128, 128, False, "float"),  # decode: one query, long key/value cache
    (2, 3, 3, 33, 33, 256, 256, False, "padding"),  # key padding mask broadcast from (B, 1, 1, Lk)
    (2, 4, 2, 3, 203, 38, 21, False, "bool"),     # few-row decode: GQA, keys in 4-row groups and a tail, partial vectors
    (1, 1, 1, 5, 0, 8, 8, False, None),           # no keys at all
    (0, 2, 2, 4, 4, 16, 16, False, None),         # empty batch
]


def make(case, device, dtype, requires_grad=False, seed=0):
    b, hq, hkv, lq, lk, d, dv, causal, kind = case
    g = torch.Generator().manual_seed(seed)

    def t(*shape):
        return torch.randn(shape, generator=g, dtype=torch.float64).to(device, dtype).requires_grad_(requires_grad)

    q, k, v = t(b, hq, lq, d), t(b, hkv, lk, d), t(b, hkv, lk, dv)
    mask = None
    if kind == "bool":
        mask = (torch.rand(b, hq, lq, lk, generator=g) > 0.3).to(device)
        mask[..., 0, :] = False  # one fully masked row per head
    elif kind == "float":
        mask = torch.randn(lq, lk, generator=g, dtype=torch.float64).to(device, dtype)
    elif kind == "padding":
        mask = (torch.arange(lk) < lk - 5).view(1, 1, 1, lk).expand(b, 1, 1, lk).to(device)
    return q, k, v, dict(attn_mask=mask, is_causal=causal, enable_gqa=hq != hkv)


def run(fn, q, k, v, kwargs, grad):
    q, k, v = (t.detach().requires_grad_() for t in (q, k, v))
    out = fn(q, k, v, **kwargs)
    if out.numel() == 0:
        return [out]
    return [out, *torch.autograd.grad(out, (q, k, v), grad)]


@pytest.mark.parametrize("mode", ["ext", "torch"], ids=["kernel", "pytorch-sdpa"])
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_matches_float64_reference(device, dtype, case, mode):
    """Our kernel (ext), and PyTorch's fused SDPA with our rule for blind rows (the reference backend,
    and auto's path for CUDA and for CPU half types)."""
    if mode == "ext" and device == "cpu" and dtype in (torch.bfloat16, torch.float16):
        pytest.skip("the CPU kernel serves float32/float64; other CPU dtypes run PyTorch's SDPA")
    q, k, v, kw = make(case, device, dtype)
    grad = torch.randn(*q.shape[:-1], v.shape[-1], generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    with backend(mode):
        ours = run(sdpa, q, k, v, kw, grad.to(device, dtype))
    theirs = run(reference, q, k, v, kw, grad.to(device, dtype))  # eager PyTorch in the same dtype
    kw64 = dict(kw, attn_mask=kw["attn_mask"].double() if kw["attn_mask"] is not None and kw["attn_mask"].is_floating_point() else kw["attn_mask"])
    oracle = run(reference, q.double(), k.double(), v.double(), kw64, grad.to(device))
    atol, _ = tolerance(dtype)
    ours_err, theirs_err, ok = within_flash_rule(ours, theirs, oracle, atol)
    assert ok, f"{case}: our error {ours_err:.3g} > 2 x PyTorch's {theirs_err:.3g} + {atol}"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("rise", [6.0, 150.0], ids=["reference-kept", "reference-moved"])
def test_logits_rising_along_the_keys(rise, dtype):
    """The CPU forward moves a row's reference max only when a key tile's logits exceed it by more
    than 8: logits rising by `rise` over 300 keys (three tiles) keep it (exps up to e^6) or move
    it at every tile (e^150 would overflow float32 unmoved), forward and backward."""
    g = torch.Generator().manual_seed(0)
    lq, lk, d = 20, 300, 16
    q = 1 + 0.1 * torch.randn(1, 2, lq, d, generator=g, dtype=torch.float64)
    ramp = torch.linspace(0, rise, lk, dtype=torch.float64).view(1, 1, lk, 1)
    k = ramp / math.sqrt(d) + 0.1 * torch.randn(1, 2, lk, d, generator=g, dtype=torch.float64)  # q.k / sqrt(d) ~ ramp
    v = torch.randn(1, 2, lk, d, generator=g, dtype=torch.float64)
    grad = torch.randn(1, 2, lq, d, generator=g, dtype=torch.float64)
    q, k, v = (t.to(dtype) for t in (q, k, v))
    with backend("ext"):
        ours = run(sdpa, q, k, v, {}, grad.to(dtype))
    theirs = run(reference, q, k, v, {}, grad.to(dtype))
    oracle = run(reference, q.double(), k.double(), v.double(), {}, grad)
    assert all(t.isfinite().all() for t in ours)
    ours_err, theirs_err, ok = within_flash_rule(ours, theirs, oracle, tolerance(dtype)[0])
    assert ok, f"our error {ours_err:.3g} > 2 x PyTorch's {theirs_err:.3g}"


def test_matches_torch_sdpa_where_both_are_defined():
    q, k, v, kw = make(CASES[1], "cpu", torch.float64)
    with backend("ext"):
        torch.testing.assert_close(sdpa(q, k, v, **kw), F.scaled_dot_product_attention(q, k, v, **kw))


@pytest.mark.parametrize("device", DEVICES)
def test_gradcheck_float64(device):
    small = [(1, 2, 1, 5, 7, 8, 6, True, None), (2, 2, 2, 3, 6, 4, 4, False, "bool"), (1, 1, 1, 4, 4, 3, 5, False, "float")]
    with backend("ext"):
        for case in small:
            q, k, v, kw = make(case, device, torch.float64, requires_grad=True)
            assert torch.autograd.gradcheck(lambda q, k, v: sdpa(q, k, v, **kw), (q, k, v)), case


@pytest.mark.parametrize("device", DEVICES)
def test_opcheck(device):
    for case in CASES[:6]:
        q, k, v, kw = make(case, device, torch.float32, requires_grad=True)
        mask = kw["attn_mask"]
        if mask is not None:
            mask = mask.expand(*q.shape[:-1], k.shape[-2])
        torch.library.opcheck(torch.ops.zoo.attention_forward.default,
                              (q, k, v, mask, kw["is_causal"], 1 / math.sqrt(q.shape[-1])))


def test_non_contiguous_and_3d_inputs():
    x = torch.randn(2, 9, 4, 16)  # (B, L, H, D) as projections produce it
    q = k = v = x.transpose(1, 2)
    assert not q.is_contiguous()
    strided = torch.randn(2, 4, 9, 32)[..., ::2]  # no unit stride in the head dim: the kernel copies it
    with backend("ext"):
        torch.testing.assert_close(sdpa(q, k, v, is_causal=True), reference(q, k, v, is_causal=True))
        torch.testing.assert_close(sdpa(strided, q, v), reference(strided, q, v))
        q3 = torch.randn(3, 5, 8)
        torch.testing.assert_close(sdpa(q3, q3, q3), F.scaled_dot_product_attention(q3, q3, q3))


@pytest.mark.parametrize("length", [5, 70], ids=["decode-path", "packed-path"])
def test_views_of_a_fused_projection_are_read_in_place(length):
    """q, k, v as views into one (B, L, 3, H, D) projection, as zoo.nn.Attention makes them; the output
    comes back laid out (B, L, H, D), so merging its heads for the output projection is a view."""
    qkv = torch.randn(2, length, 3, 4, 24, dtype=torch.float64, requires_grad=True)
    q, k, v = (qkv[:, :, i].transpose(1, 2) for i in range(3))
    with backend("ext"):
        out = sdpa(q, k, v, is_causal=True)
    torch.testing.assert_close(out, reference(q, k, v, is_causal=True))
    assert out.transpose(1, 2).is_contiguous()
    grad = torch.randn_like(out)
    ours, = torch.autograd.grad(out, qkv, grad)
    theirs, = torch.autograd.grad(reference(q, k, v, is_causal=True), qkv, grad)
    torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mode", ["ext", "torch"], ids=["kernel", "pytorch-sdpa"])
@pytest.mark.parametrize("kind", ["bool", "float"])
def test_fully_masked_rows_give_zero_output_and_finite_gradients(kind, mode, device):
    q, k, v = (torch.randn(1, 2, 4, 8, dtype=torch.float64, device=device, requires_grad=True) for _ in range(3))
    mask = torch.ones(1, 2, 4, 4, dtype=torch.bool, device=device)
    mask[:, :, 1] = False
    mask[:, 1, 2, :3] = False
    if kind == "float":
        mask = torch.zeros(mask.shape, dtype=torch.float64, device=device).masked_fill(~mask, -math.inf)
    with backend(mode):
        out = sdpa(q, k, v, attn_mask=mask)
    out.sum().backward()
    assert torch.equal(out[:, :, 1], torch.zeros_like(out[:, :, 1]))
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))
    assert torch.equal(q.grad[:, :, 1], torch.zeros_like(q.grad[:, :, 1]))
    torch.testing.assert_close(out, reference(q, k, v, attn_mask=mask))


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_pytorch_sdpa_never_sees_a_fully_masked_row(kind, monkeypatch):
    """Some of PyTorch's CUDA backends have returned NaN for a row that sees no key; the reference backend
    shows such rows every key and zeroes their output, so none of them meets one."""
    seen = []

    def spy(query, key, value, attn_mask=None, *args, **kwargs):
        visible = attn_mask if attn_mask.dtype == torch.bool else ~torch.isneginf(attn_mask)
        seen.append(bool(visible.any(dim=-1).all()))
        return sdpa_of_pytorch(query, key, value, attn_mask, *args, **kwargs)

    sdpa_of_pytorch = F.scaled_dot_product_attention
    monkeypatch.setattr(F, "scaled_dot_product_attention", spy)
    q, k, v, kw = make(CASES[3], "cpu", torch.float64)  # a bool mask with a blind row per head
    if kind == "float":
        kw["attn_mask"] = torch.zeros(kw["attn_mask"].shape, dtype=torch.float64).masked_fill(~kw["attn_mask"], -math.inf)
    with backend("torch"):
        out = sdpa(q, k, v, **kw)
    assert seen == [True]
    torch.testing.assert_close(out, reference(q, k, v, **kw))


def test_a_learned_float_mask_gets_its_gradient():
    """A mask that requires grad (T5's relative position bias) runs PyTorch's SDPA: its gradient, and
    q/k/v's, match the float64 oracle's, with a row that sees no key included."""
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 3, 5, 8, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(3))
    bias = torch.randn(1, 3, 5, 5, generator=g, dtype=torch.float64)
    bias[:, 1, 2] = -math.inf
    bias.requires_grad_()
    ours = sdpa(q, k, v, attn_mask=bias)
    oracle = reference(q, k, v, attn_mask=bias)
    grad = torch.randn(ours.shape, generator=g, dtype=torch.float64)
    for got, want in zip(torch.autograd.grad(ours, (q, k, v, bias), grad),
                         torch.autograd.grad(oracle, (q, k, v, bias), grad)):
        torch.testing.assert_close(got, want)
    torch.testing.assert_close(ours, oracle)


def test_dropout_runs_on_pytorch_sdpa_with_correct_gradients():
    q, k, v = (torch.randn(1, 2, 5, 4, dtype=torch.float64, requires_grad=True) for _ in range(3))

    def seeded(q, k, v):
        torch.manual_seed(7)
        return sdpa(q, k, v, dropout_p=0.4)

    assert torch.autograd.gradcheck(seeded, (q, k, v))
    torch.manual_seed(7)
    keep = F.dropout(torch.ones(1, 2, 5, 5, dtype=torch.float64), 0.4)  # the same draw (PyTorch's CPU math path)
    expected = (torch.softmax(q @ k.transpose(-2, -1) / 2, -1) * keep) @ v
    torch.testing.assert_close(seeded(q, k, v), expected)


def test_compile_fullgraph_and_export():
    class Block(torch.nn.Module):
        def forward(self, q, k, v):
            return sdpa(q, k, v, is_causal=True)

    q = k = v = torch.randn(2, 4, 16, 32)
    with backend("ext"):
        compiled = torch.compile(Block(), fullgraph=True)
        torch.testing.assert_close(compiled(q, k, v), reference(q, k, v, is_causal=True))
        program = torch.export.export(Block(), (q, k, v))
    assert "zoo.attention_forward" in str(program.graph)


@pytest.mark.parametrize("mode", ["ext", "torch"])
@pytest.mark.parametrize("args, kwargs, argument", [
    ((torch.randn(1, 2, 3, 4), torch.randn(1, 2, 3, 4, dtype=torch.float64), torch.randn(1, 2, 3, 4)), {}, "key"),
    ((torch.randn(4), torch.randn(4), torch.randn(4)), {}, "query"),
    ((torch.randn(1, 4, 3, 8), torch.randn(1, 2, 3, 8), torch.randn(1, 2, 3, 8)), {}, "key"),
    ((torch.randn(1, 4, 3, 8), torch.randn(1, 3, 3, 8), torch.randn(1, 3, 3, 8)), {"enable_gqa": True}, "key"),
    ((torch.randn(1, 2, 3, 8), torch.randn(1, 2, 3, 8, device="meta"), torch.randn(1, 2, 3, 8)), {}, "key"),
    ((torch.randn(1, 2, 3, 8), torch.randn(1, 2, 3, 6), torch.randn(1, 2, 3, 8)), {}, "key"),
    ((torch.randn(1, 2, 3, 8), torch.randn(1, 2, 3, 8), torch.randn(1, 2, 4, 8)), {}, "value"),
    ((torch.randn(1, 2, 3, 8),) * 3, {"attn_mask": torch.ones(3, 3, dtype=torch.bool), "is_causal": True}, "attn_mask"),
    ((torch.randn(1, 2, 3, 8),) * 3, {"attn_mask": torch.ones(2, 3)}, "attn_mask"),
    ((torch.randn(1, 2, 3, 8),) * 3, {"dropout_p": 1.5}, "dropout_p"),
])
def test_bad_input_names_the_argument(mode, args, kwargs, argument):
    with backend(mode), pytest.raises(ValueError, match=f"argument '{argument}'"):
        sdpa(*args, **kwargs)


def test_kernel_checks_name_the_argument():
    q = torch.randn(1, 2, 3, 8)
    with pytest.raises(ValueError, match="argument 'attn_mask'"):
        torch.ops.zoo.attention_forward(q, q, q, torch.ones(3, 3, dtype=torch.bool), False, 1.0)
    with pytest.raises(ValueError, match="argument 'query' must be float32 or float64"):
        torch.ops.zoo.attention_forward(q.bfloat16(), q.bfloat16(), q.bfloat16(), None, False, 1.0)
