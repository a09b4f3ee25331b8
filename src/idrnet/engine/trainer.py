"""The training loop: CPU, one GPU or many (torchrun/DDP), resumable exactly, atomic checkpoints."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from ..atomic import atomic_path
from ..config import ConfigError, to_dict
from ..data.datasets.base import SegmentationDataset
from ..distributed import init_distributed, world_info
from ..models.build import build_model
from ..models.checkpoint import load_state_dict_strict, read_checkpoint, save_checkpoint
from ..models.config import ModelConfig
from ..models.segmentor import Segmentor
from ..models.zoo import get_entry
from .config import TrainConfig
from .losses import training_losses


class TrainingError(RuntimeError):
    """Training cannot go on (non-finite loss, …); the message says where."""


# ---------------------------------------------------------------------------------------- set-up
def _wants_cuda(config: TrainConfig) -> bool:
    return config.device == "cuda" or (config.device == "auto" and torch.cuda.is_available())


def _device(config: TrainConfig, local_rank: int) -> torch.device:
    if _wants_cuda(config):
        if not torch.cuda.is_available():
            raise ConfigError("device: cuda requested but CUDA is not available")
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def _recipe(config: TrainConfig):
    """The data pipeline recipe: the official one named by ``data.recipe``, or one from the config's values."""
    from ..data.official import RECIPES, PipelineRecipe

    d = config.data
    if d.recipe is not None:
        if d.recipe not in RECIPES:
            raise ConfigError(f"data.recipe: unknown {d.recipe!r}; expected one of {', '.join(RECIPES)}")
        return RECIPES[d.recipe]
    return PipelineRecipe(tuple(d.scale), tuple(d.crop), tuple(d.ratio_range), True, d.test_scale)


def build_split(config: TrainConfig, split: str, train: bool) -> SegmentationDataset:
    """One split of the config's dataset with the training or the evaluation pipeline."""
    from ..data.datasets.benchmarks import build_benchmark
    from ..data.datasets.custom import build_custom

    d = config.data
    recipe = _recipe(config)
    pipeline = recipe.train() if train else recipe.test()
    if d.type == "custom":
        return build_custom(d.root, split, pipeline, config.seed, d.skip_bad_samples)
    return build_benchmark(d.type, d.root, split, pipeline, config.seed, d.skip_bad_samples)


def build_datasets(config: TrainConfig) -> tuple[SegmentationDataset, SegmentationDataset]:
    """Train and validation datasets with their pipelines (errors name a missing folder up front)."""
    train = build_split(config, config.data.train_split, True)
    val = build_split(config, config.data.val_split, False)
    if len(train) == 0:
        raise ConfigError(f"data: no training samples found under {config.data.root} ({config.data.train_split})")
    return train, val


def _model_config(config: TrainConfig, num_classes: int) -> ModelConfig:
    mc = get_entry(config.model).config if isinstance(config.model, str) else config.model
    if config.pretrained_backbone is not None:
        mc = dataclasses.replace(mc, backbone=dataclasses.replace(mc.backbone, pretrained=config.pretrained_backbone))
    if mc.num_classes != num_classes:
        raise ConfigError(f"model has {mc.num_classes} classes but the dataset has {num_classes}; set model.num_classes")
    return mc


def _data_meta(config: TrainConfig, dataset: SegmentationDataset) -> str:
    from ..data.meta import DataMeta

    recipe, info = _recipe(config), dataset.info
    return DataMeta(info.classes, info.palette, info.ignore_index, info.flip_pairs,
                    tuple(recipe.test_scale or recipe.scale), recipe.keep_ratio).to_json()


def _param_groups(model: torch.nn.Module, config: TrainConfig) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if any(k in name for k in config.optim.no_decay_keywords) else decay).append(p)
    groups = [{"params": decay, "weight_decay": config.optim.weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def poly_lr(config: TrainConfig, iteration: int) -> float:
    """Learning rate at ``iteration`` (0-based): poly decay to ``min_lr``, optional linear warm-up."""
    o = config.optim
    min_lr = o.lr * 0.01 if o.min_lr is None else o.min_lr
    lr = (1 - iteration / config.iterations) ** o.power * (o.lr - min_lr) + min_lr
    if o.warmup_iters and iteration <= o.warmup_iters:
        lr = lr * (1 - (1 - iteration / o.warmup_iters) * (1 - o.warmup_ratio))
    return lr


# ------------------------------------------------------------------------------------ data order
class _Order:
    """Epoch-wise shuffled indices from (seed, epoch), resumable at any batch.

    Each step's total batch is a consecutive slice of the epoch's permutation; process ``rank`` takes
    its elements ``rank::world``, so the union over processes does not depend on the number of
    processes, and when ``world`` does not divide ``batch`` the first ``batch % world`` processes
    take one sample more.
    """

    def __init__(self, n: int, batch: int, seed: int, rank: int, world: int) -> None:
        self.n, self.batch, self.seed, self.rank, self.world = n, batch, seed, rank, world
        self.batches_per_epoch = n // batch
        if self.batches_per_epoch == 0:
            raise ConfigError(f"dataset of {n} samples is smaller than one batch of {batch}")

    def batch_indices(self, epoch: int) -> list[list[int]]:
        g = torch.Generator().manual_seed(self.seed * 100003 + epoch)
        perm = torch.randperm(self.n, generator=g).tolist()
        return [perm[i:i + self.batch][self.rank::self.world] for i in range(0, self.batches_per_epoch * self.batch, self.batch)]


def _shares(batch: int, world: int, max_per_process: int | None) -> tuple[list[int], int]:
    """Samples per process for a total ``batch``, and the number of micro-batches every process runs.

    The micro-batch count is the same on every process: cross-process BatchNorm and IDRNet's
    statistics synchronise once per forward, so all processes must run as many forwards.
    """
    if batch < world:
        raise ConfigError(f"batch_size {batch} is smaller than the {world} processes: each needs at least one sample")
    shares = [len(range(r, batch, world)) for r in range(world)]
    cap = max_per_process or shares[0]
    chunks = -(-shares[0] // cap)
    if shares[-1] < chunks:
        raise ConfigError(
            f"max_batch_per_process {cap} would leave a process without a sample in some micro-batch "
            f"(per-process batches {shares[-1]}–{shares[0]}); raise it to at least {-(-shares[0] // shares[-1])}"
        )
    return shares, chunks


def _tensorboard(path: Path):
    """A TensorBoard event writer (tensorboardX: no TensorFlow or tensorboard server needed)."""
    from tensorboardX import SummaryWriter

    return SummaryWriter(str(path))


def _collate(samples: list[dict]) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.stack([s["image"] for s in samples]), torch.stack([s["label"] for s in samples])


# ----------------------------------------------------------------------------------- checkpoints
def _rng_states(device: torch.device) -> dict[str, torch.Tensor]:
    states = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    return states


# ---------------------------------------------------------------------------------------- train
def train(config: TrainConfig, resume: str | bool | None = None, max_iterations: int | None = None) -> dict[str, Any]:
    """Train as ``config`` says; returns the last validation metrics and paths.

    ``resume``: True for ``work_dir/latest.pt``, or a checkpoint path. ``max_iterations`` stops early
    (after writing a resumable checkpoint) without changing the schedule — used to test resuming.
    """
    init_distributed("cuda" if _wants_cuda(config) else "cpu")
    rank, world, local_rank = world_info()
    device = _device(config, local_rank)
    work_dir = Path(config.work_dir)
    try:
        work_dir.mkdir(parents=True, exist_ok=True)
        probe = work_dir / f".write_test.{os.getpid()}"  # one per process: ranks share the folder
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise ConfigError(f"work_dir {work_dir} is not writable: {err}") from err
    train_set, val_set = build_datasets(config)
    skip_log = work_dir / "skipped_samples.txt"
    if config.data.skip_bad_samples:
        train_set.skip_log = val_set.skip_log = skip_log
    model_config = _model_config(config, train_set.info.num_classes)
    data_meta = _data_meta(config, val_set)
    # Total batch kept for any number of processes: uneven shares are weighted by their size below.
    _, num_chunks = _shares(config.batch_size, world, config.max_batch_per_process)

    torch.manual_seed(config.seed)
    model: Segmentor = build_model(model_config)
    if config.init_checkpoint:
        state, _, _ = read_checkpoint(Path(config.init_checkpoint))
        load_state_dict_strict(model, state, config.init_checkpoint)
    if world > 1:
        # Batch statistics over the whole (total) batch: torch's SyncBatchNorm on CUDA, ours on CPU/gloo.
        if device.type == "cuda":
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        else:
            from ..models.sync_batchnorm import convert_to_cross_process_bn

            model = convert_to_cross_process_bn(model)
    model.to(device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    if config.compile:
        # In place (nn.Module.compile), so state_dict keys and checkpoints stay the same. An IDRNet head
        # stays eager: its intervened pass must replay the anchor pass's dropout masks from the
        # restored torch RNG state, which compiled random number generation does not promise.
        for module in (model.backbone, model.auxiliary_head, None if model.is_idrnet else model.decode_head):
            if module is not None:
                module.compile()
    optimizer: torch.optim.Optimizer
    groups = _param_groups(model, config)
    if config.optim.type == "sgd":
        optimizer = torch.optim.SGD(groups, lr=config.optim.lr, momentum=config.optim.momentum)
    else:
        optimizer = torch.optim.AdamW(groups, lr=config.optim.lr, betas=config.optim.betas)
    scaler = torch.amp.GradScaler(device.type, enabled=config.amp == "fp16")
    ddp = None
    if world > 1:
        ddp = torch.nn.parallel.DistributedDataParallel(
            _TrainForward(model), device_ids=[local_rank] if device.type == "cuda" else None
        )

    start, best = 0, -1.0
    latest = work_dir / "latest.pt"
    if resume:
        path = latest if resume is True else Path(resume)
        if not path.is_file():
            raise FileNotFoundError(f"cannot resume: {path} does not exist")
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scaler.load_state_dict(ckpt["scaler"])
        torch.set_rng_state(ckpt["rng"]["cpu"])
        if "cuda" in ckpt["rng"] and device.type == "cuda":
            torch.cuda.set_rng_state(ckpt["rng"]["cuda"], device)
        start, best = int(ckpt["iteration"]), float(ckpt["best_miou"])
    if rank == 0:
        (work_dir / "config.yaml").write_text(yaml.safe_dump(to_dict(config), sort_keys=False))

    order = _Order(len(train_set), config.batch_size, config.seed, rank, world)
    stop_signal: list[int] = []

    def on_signal(signum, frame):  # noqa: ARG001
        stop_signal.append(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}

    def save(path: Path, iteration: int) -> None:
        if rank != 0:
            return
        with atomic_path(path) as tmp:
            torch.save({
                "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
                "rng": _rng_states(device), "iteration": iteration, "best_miou": best,
                "config": json.dumps(to_dict(config)),
            }, tmp)

    log = open(work_dir / "log.jsonl", "a") if rank == 0 else None
    scalars = _tensorboard(work_dir / "tensorboard") if rank == 0 else None
    from tqdm import tqdm

    bar = tqdm(total=config.iterations, initial=start, disable=rank != 0, desc="train", dynamic_ncols=True)
    metrics: dict[str, Any] = {}
    end = min(config.iterations, max_iterations) if max_iterations else config.iterations
    iteration = start
    # Under DDP the training forward must go through the wrapper so gradients are synchronised.
    trainee = _DDPView(ddp, model) if ddp is not None else model
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(config.amp)
    model.train()  # evaluate() restores train mode after validating
    window_start, window_images = time.perf_counter(), 0
    try:
        while iteration < end:
            epoch, position = divmod(iteration, order.batches_per_epoch)
            train_set.epoch = epoch
            batches = order.batch_indices(epoch)[position:]
            # Our own generator, so creating a loader (e.g. after a resume) never draws from the
            # global RNG that dropout and deletion sampling use; augmentation is seeded per sample.
            loader = torch.utils.data.DataLoader(
                train_set, batch_sampler=batches, num_workers=config.data.num_workers, collate_fn=_collate,
                pin_memory=device.type == "cuda", generator=torch.Generator().manual_seed(config.seed + epoch),
            )
            for images, targets in loader:
                if iteration >= end or stop_signal:
                    break
                images, targets = images.to(device, non_blocking=True), targets.to(device, non_blocking=True)
                if config.channels_last:
                    images = images.contiguous(memory_format=torch.channels_last)
                lr = poly_lr(config, iteration)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                optimizer.zero_grad(set_to_none=True)
                losses: dict[str, torch.Tensor] = {}
                finite = True
                chunks = list(zip(images.tensor_split(num_chunks), targets.tensor_split(num_chunks)))
                for step, (chunk_images, chunk_targets) in enumerate(chunks):
                    # Gradients are synchronised across processes on the last micro-batch only. DDP
                    # averages over processes, so a chunk's mean loss weighs n_chunk * world / batch:
                    # every sample of the total batch then counts the same, even in uneven shares.
                    sync = ddp.no_sync() if ddp is not None and step < len(chunks) - 1 else contextlib.nullcontext()
                    weight = len(chunk_images) * world / config.batch_size
                    with sync:
                        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                            chunk_losses = training_losses(trainee, chunk_images, chunk_targets)
                        total = chunk_losses["total"] * weight
                        if not torch.isfinite(total):
                            finite = False
                            break
                        scaler.scale(total).backward()
                    for k, v in chunk_losses.items():
                        losses[k] = losses.get(k, 0) + v.detach() * len(chunk_images) / len(images)
                if not finite:
                    if config.on_nan == "skip":
                        optimizer.zero_grad(set_to_none=True)
                        iteration += 1
                        continue
                    raise TrainingError(
                        f"non-finite loss {total.item()} at iteration {iteration}; the last good checkpoint "
                        f"is {latest if latest.exists() else 'not written yet'}"
                    )
                scaler.step(optimizer)
                scaler.update()
                iteration += 1
                window_images += config.batch_size
                bar.update(1)
                if iteration % config.log_interval == 0 or iteration == end:
                    now = time.perf_counter()
                    record = {"iteration": iteration, "lr": lr,
                              **{f"loss_{k}": v.detach().item() for k, v in losses.items()},
                              "images_per_s": window_images / max(now - window_start, 1e-9)}
                    window_start, window_images = now, 0
                    bar.set_postfix(loss=f"{record['loss_total']:.3f}", lr=f"{lr:.2e}", ips=f"{record['images_per_s']:.1f}")
                    if log:
                        log.write(json.dumps(record) + "\n")
                        log.flush()
                    if scalars:
                        for key, value in record.items():
                            if key != "iteration":
                                scalars.add_scalar(f"train/{key}", value, iteration)
                if iteration % config.checkpoint_interval == 0:
                    save(latest, iteration)
                    save(work_dir / f"iter_{iteration}.pt", iteration)
                if iteration % config.val_interval == 0 or iteration == config.iterations:
                    metrics = evaluate(model, val_set, device)
                    if log:
                        log.write(json.dumps({"iteration": iteration, "val_mIoU": metrics["mIoU"], "val_aAcc": metrics["aAcc"]}) + "\n")
                        log.flush()
                    if scalars:
                        for key in ("mIoU", "aAcc", "mAcc"):
                            scalars.add_scalar(f"val/{key}", metrics[key], iteration)
                    if metrics["mIoU"] > best:
                        best = metrics["mIoU"]
                        if rank == 0:
                            save_checkpoint(model, work_dir / "best.safetensors", data_meta=data_meta)
            if stop_signal:
                break
        save(latest, iteration)
        if rank == 0 and iteration >= config.iterations:
            save_checkpoint(model, work_dir / "final.safetensors", data_meta=data_meta)
    finally:
        bar.close()
        if log:
            log.close()
        if scalars:
            scalars.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    if rank == 0 and skip_log.is_file():
        skipped = sorted(set(skip_log.read_text().splitlines()))
        print(f"skipped {len(skipped)} bad sample(s) (listed in {skip_log}):", *skipped[:50], sep="\n  ")
    if stop_signal:
        raise KeyboardInterrupt(f"stopped by signal {stop_signal[0]} at iteration {iteration}; resume with --resume")
    return {"iteration": iteration, "metrics": metrics, "best_miou": best, "work_dir": str(work_dir)}


class _DDPView:
    """Looks like the Segmentor to ``training_losses`` but runs ``forward_train`` through DDP."""

    def __init__(self, ddp: torch.nn.Module, model: Segmentor) -> None:
        self._ddp, self._model = ddp, model

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def forward_train(self, images: torch.Tensor):
        return self._ddp(images)


class _TrainForward(torch.nn.Module):
    """``forward`` = the segmentor's ``forward_train``, so DDP can wrap the training forward."""

    def __init__(self, model: Segmentor) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor):
        return self.model.forward_train(images)


def evaluate(model: Segmentor, dataset: SegmentationDataset, device: torch.device) -> dict[str, Any]:
    """Periodic validation: single-scale with the model's inference settings, all-reduced under DDP."""
    from ..evaluation.evaluator import evaluate as evaluate_dataset

    return evaluate_dataset(model, dataset, device)
