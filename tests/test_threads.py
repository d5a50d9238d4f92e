"""One model called from several Python threads at once gives the single-threaded results,
also with threads on different backends (the backend choice is per thread)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

import zoo
from zoo.check import flatten_tensors
from zoo.ops import backend


# Four threads on one model: the largest (gpt2-medium and up, bert-large, mt5-small) would only make this slow;
# their code is that of the smaller ones in their family.
@pytest.mark.parametrize("name", [n for n in zoo.list_models() if zoo.info(n).num_params <= 250_000_000])
def test_concurrent_calls_match_sequential_ones(name):
    spec = zoo.info(name)
    model = spec.build()
    base = spec.example_inputs(2)
    inputs = [tuple(t + i if t.is_floating_point() else t for t in base) for i in range(4)]
    modes = ["ext", "torch", "ext", "torch"]

    def run(i):
        with torch.no_grad(), backend(modes[i]):
            return flatten_tensors(model(*inputs[i]))

    expected = [run(i) for i in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(3):
            for got, want in zip(pool.map(run, range(4)), expected):
                for a, b in zip(got, want):
                    torch.testing.assert_close(a, b, rtol=0, atol=0)
