"""A few training steps of a zoo model under DistributedDataParallel or FSDP2, launched by torchrun.

Every rank trains on its slice of one fixed combined batch and saves its parameters; rank 0 also
trains a plain copy on the whole batch in one process. tests/test_distributed.py compares them.
Models train in eval mode so that dropout cannot make a rank's slice differ from the same rows of
the combined batch.
"""

from __future__ import annotations

import argparse
import gc
from pathlib import Path

import torch
import torch.distributed as dist

import zoo
from zoo.check import flatten_tensors

STEPS, LR = 3, 0.05


def train(model: torch.nn.Module, inputs: tuple) -> None:
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    for _ in range(STEPS):
        optimizer.zero_grad()
        sum(o.float().pow(2).mean() for o in flatten_tensors(model(*inputs))).backward()
        optimizer.step()


def wrap(model: torch.nn.Module, strategy: str, world_size: int) -> torch.nn.Module:
    if strategy == "ddp":
        return torch.nn.parallel.DistributedDataParallel(model)
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh("cpu", (world_size,))
    for block in blocks(model):
        fully_shard(block, mesh=mesh)
    return fully_shard(model, mesh=mesh)


def blocks(module: torch.nn.Module):
    """The elements of the outermost ModuleLists (a transformer's layers): one FSDP unit each."""
    for child in module.children():
        if isinstance(child, torch.nn.ModuleList):
            yield from child
        else:
            yield from blocks(child)


def full_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Parameters and buffers as whole tensors (FSDP2 holds its parameters as sharded DTensors)."""
    state = model.module.state_dict() if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model.state_dict()
    return {k: (v.full_tensor() if hasattr(v, "full_tensor") else v).detach().clone() for k, v in state.items()}


def build(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return zoo.info(name).build().eval()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--strategy", choices=["ddp", "fsdp"], required=True)
    parser.add_argument("--batch-size", type=int, default=4, help="the combined batch over all ranks")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    dist.init_process_group("gloo")
    rank, world_size = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(123)
    combined = tuple(zoo.info(args.model).example_inputs(args.batch_size))
    share = args.batch_size // world_size
    mine = tuple(t[rank * share:(rank + 1) * share] if isinstance(t, torch.Tensor) else t for t in combined)

    model = wrap(build(args.model), args.strategy, world_size)
    train(model, mine)
    torch.save(full_state(model), args.out / f"rank{rank}.pt")
    if rank == 0:
        single = build(args.model)
        torch.save(full_state(single), args.out / "initial.pt")
        train(single, combined)
        torch.save(full_state(single), args.out / "single.pt")
    # The wrapped model's reference cycles would otherwise be collected at interpreter exit, where
    # freeing its gloo work aborts the process (about 1 run in 20: "terminate called without an
    # active exception", after every file is saved).
    del model
    gc.collect()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
