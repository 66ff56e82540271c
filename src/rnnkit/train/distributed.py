"""Data-parallel training on ``torch.distributed``.

Launch with ``torchrun --nproc_per_node N -m ...``: torchrun sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` and the rendezvous address; :func:`setup` then joins the process group (gloo
on CPU, nccl on CUDA). Each rank sees its own shard of the data:

- a map-style ``Dataset``: wrap it with :func:`distributed_loader`, a ``DataLoader`` over a
  ``DistributedSampler`` (shuffling is a function of ``seed`` and the epoch, which the
  trainer sets before each epoch);
- a stream (an iterable of batches, e.g. TBPTT windows): give it a method
  ``shard(rank, world) -> iterable`` returning the part that rank ``rank`` of ``world``
  trains on; the trainer calls it once before training.

With equal per-rank batch sizes, DDP's gradient average equals the gradient of the mean
over the global batch, so N ranks with batch B/N match one process with batch B.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

__all__ = [
    "DistInfo",
    "all_reduce_sum",
    "distributed_loader",
    "gather_objects",
    "set_epoch",
    "setup",
    "shard",
    "unwrap",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: ``rank`` of ``world`` (``enabled`` under DDP)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    enabled: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    """True when RANK and WORLD_SIZE are in the environment."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def setup(flag: bool | None, device_type: str) -> DistInfo:
    """Join the process group when ``flag`` (or, for None, torchrun's environment) asks."""
    want = launched_by_torchrun() if flag is None else flag
    if not want:
        return DistInfo()
    if not dist.is_available():
        raise RuntimeError("`distributed` is on but torch.distributed is not available")
    if not dist.is_initialized():
        if not launched_by_torchrun():
            raise RuntimeError(
                "`distributed`=True needs RANK and WORLD_SIZE in the environment "
                "(launch with torchrun --nproc_per_node N ...)"
            )
        backend = "nccl" if device_type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
        log.info(
            "joined process group: rank %d of %d (%s)",
            dist.get_rank(),
            dist.get_world_size(),
            backend,
        )
    local = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
    return DistInfo(dist.get_rank(), dist.get_world_size(), local, True)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel (or DataParallel) wrapper."""
    while isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
        model = model.module
    return model


def all_reduce_sum(values: Sequence[float], info: DistInfo, device: torch.device) -> list[float]:
    """Element-wise sum of ``values`` over ranks (the values themselves when not under DDP)."""
    if not info.enabled or info.world == 1:
        return [float(v) for v in values]
    t = torch.tensor(list(values), dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    """``obj`` from every rank, in rank order (``[obj]`` when not under DDP)."""
    if not info.enabled or info.world == 1:
        return [obj]
    out: list[Any] = [None] * info.world
    dist.all_gather_object(out, obj)
    return out


def distributed_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    shuffle: bool = True,
    seed: int = 0,
    drop_last: bool = False,
    collate_fn: Callable[[list[Any]], Any] | None = None,
    **kwargs: Any,
) -> DataLoader:
    """A DataLoader over this rank's shard of ``dataset`` (``batch_size`` per rank).

    Uses a ``DistributedSampler`` even in a single process (one shard), so one process with
    batch ``B`` visits exactly the samples that ``N`` ranks with batch ``B/N`` do together.
    The rank and world size come from the process group, or from torchrun's environment
    when the group is not joined yet (the trainer joins it in ``fit``).
    """
    if batch_size <= 0:
        raise ValueError(f"`batch_size` must be > 0, got {batch_size}")
    if dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
    elif launched_by_torchrun():  # the trainer joins the group later, in fit()
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    else:
        rank, world = 0, 1
    sampler = DistributedSampler(
        dataset, num_replicas=world, rank=rank, shuffle=shuffle, seed=seed, drop_last=drop_last
    )
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        drop_last=drop_last,
        collate_fn=collate_fn,
        **kwargs,
    )


def _sampler_of(data: Any) -> Any:
    if isinstance(data, DataLoader):
        if data.batch_sampler is not None and hasattr(data.batch_sampler, "sampler"):
            return data.batch_sampler.sampler
        return data.sampler
    return None


def set_epoch(data: Any, epoch: int) -> None:
    """Call ``data.set_epoch(epoch)``, or its DataLoader sampler's, where there is one."""
    if hasattr(data, "set_epoch"):
        data.set_epoch(epoch)
        return
    sampler = _sampler_of(data)
    if sampler is not None and hasattr(sampler, "set_epoch"):
        sampler.set_epoch(epoch)


def shard(data: Any, info: DistInfo) -> Any:
    """This rank's part of ``data`` (unchanged outside DDP or when already sharded).

    A loader from :func:`distributed_loader` is checked in every case, DDP or not: built
    under torchrun's environment it holds 1/N of the data, which a process that is not in
    the group (``distributed=False``) must not silently train on.
    """
    if data is None:
        return data
    sampler = _sampler_of(data)
    if isinstance(sampler, DistributedSampler):
        if sampler.num_replicas != info.world or sampler.rank != info.rank:
            raise ValueError(
                f"the data's DistributedSampler is shard {sampler.rank} of "
                f"{sampler.num_replicas}, this process is rank {info.rank} of {info.world}"
            )
        return data
    if not info.enabled or info.world == 1:
        return data
    if hasattr(data, "shard"):
        return data.shard(info.rank, info.world)
    log.warning(
        "data %s is not sharded across %d ranks: every rank trains on all of it "
        "(use distributed_loader, or give the data a shard(rank, world) method)",
        type(data).__name__,
        info.world,
    )
    return data
