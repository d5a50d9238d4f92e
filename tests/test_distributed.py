"""Our ops under PyTorch's distributed engine: 2 processes on CPU (gloo), launched with torchrun.

After a few SGD steps the ranks hold identical parameters, equal to one process trained on the
combined batch (DDP and FSDP2 average gradients over ranks, which for equal slices is the gradient
of the combined batch's mean loss).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).with_name("distributed_worker.py")
RTOL, ATOL = 1e-4, 1e-6  # batch slicing and all-reduce order change float32 rounding only


def launch(model: str, strategy: str, out: Path) -> None:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(WORKER),
               "--model", model, "--strategy", strategy, "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.mark.parametrize(("model", "strategy"), [
    ("mnist_cnn", "ddp"),        # conv + bias_act
    ("gpt2-tiny", "ddp"),        # attention
    ("lstm_classifier", "ddp"),  # recurrent
    ("gpt2-tiny", "fsdp"),       # a transformer sharded block by block
    ("bert-tiny", "fsdp"),
])
def test_ranks_agree_and_equal_one_process_on_the_combined_batch(model, strategy, tmp_path):
    launch(model, strategy, tmp_path)
    rank0, rank1, single, initial = (torch.load(tmp_path / f"{f}.pt", weights_only=True)
                                     for f in ("rank0", "rank1", "single", "initial"))
    assert rank0.keys() == single.keys()
    moved = max((single[k].double() - initial[k].double()).abs().max().item() for k in single if single[k].is_floating_point())
    assert moved > 100 * ATOL, "training barely moved the parameters: the comparison below would prove little"
    for name in single:
        torch.testing.assert_close(rank0[name], rank1[name], rtol=0, atol=0, msg=f"ranks differ in {name}")
        torch.testing.assert_close(rank0[name], single[name], rtol=RTOL, atol=ATOL, msg=f"{name} differs from one process")
