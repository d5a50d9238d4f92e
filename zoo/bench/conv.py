"""Convolution cases: the layers named in the conv issue, (N, C, H, K, R, stride[, spatial dims]).

H is the size of every spatial dim, R the kernel size, padding R // 2 (ResNet
style). Inputs are channels-last, PyTorch's fastest format on CPU, for both
sides. FLOPs: 2*N*K*C*R^d*out^d forward; the backward (input and weight
gradients) twice that, so fwd+bwd is 3x.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from zoo.bench.cases import OpCase
from zoo.ops.conv import conv, conv_reference

SHAPES = [(8, 64, 56, 64, 3, 1), (8, 128, 28, 128, 3, 1), (8, 256, 14, 256, 3, 1), (8, 3, 224, 64, 7, 2),
          (16, 32, 32, 32, 3, 1), (2, 32, 32, 32, 3, 1, 3)]
QUICK_SHAPES = [(4, 64, 56, 64, 3, 1), (4, 3, 224, 64, 7, 2), (1, 16, 32, 16, 3, 1, 3)]
_TORCH = {2: F.conv2d, 3: F.conv3d}
_CHANNELS_LAST = {2: torch.channels_last, 3: torch.channels_last_3d}


def _case(n, c, h, k, r, stride, dims=2) -> OpCase:
    padding = r // 2
    out = (h + 2 * padding - r) // stride + 1

    def make_inputs(device, dtype):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(n, c, *[h] * dims, generator=g).to(device, dtype, memory_format=_CHANNELS_LAST[dims])
        w = (torch.randn(k, c, *[r] * dims, generator=g) / (c * r**dims) ** 0.5).to(device, dtype)
        return x, w, torch.randn(k, generator=g).to(device, dtype)

    def flops(direction: str, dtype: torch.dtype) -> float:
        forward = 2 * n * k * c * r**dims * out**dims
        return forward if direction == "fwd" else 3 * forward

    return OpCase(
        family="conv",
        name=f"N{n} C{c} H{h}{'^3' if dims == 3 else ''} K{k} R{r} s{stride}",
        make_inputs=make_inputs,
        zoo=lambda x, w, b: conv(x, w, b, stride, padding),
        torch=lambda x, w, b: _TORCH[dims](x, w, b, stride, padding),
        reference=lambda x, w, b: conv_reference(x, w, b, stride, padding),
        work=flops,
    )


def cases(specs: list | None = None, quick: bool = False) -> list[OpCase]:
    """Cases from `specs` ([N, C, H, K, R, stride] or [..., 3] for 3-D each), else the quick or full preset."""
    return [_case(*spec) for spec in (specs or (QUICK_SHAPES if quick else SHAPES))]
