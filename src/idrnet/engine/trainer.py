"""The training loop: CPU, one GPU or many (torchrun/DDP), resumable exactly, atomic checkpoints.

:class:`Trainer` is set up once (everything that can fail on a user's mistake fails there, before any
file of the work dir is touched), then :meth:`Trainer.run` alternates :meth:`Trainer.step`,
:meth:`Trainer.validate` and :meth:`Trainer.save_state`. :func:`train` is the one-call form.
"""

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

from ..atomic import atomic_path, write_text
from ..file_errors import not_a_file, run_weights
from ..config import ConfigError, parse_json, to_dict
from ..data.build import build_datasets, run_description
from ..data.datasets.base import SegmentationDataset
from ..data.description import DataDescription
from ..distributed import init_distributed, is_distributed, world_info
from ..dropin.external import build_any
from ..models.checkpoint import CheckpointError, load_state_dict_strict, load_weights_only, read_checkpoint, save_checkpoint
from ..models.config import ModelConfig
from ..models.segmentor import Segmentor
from ..models.zoo import get_entry
from ..output_paths import check_not_an_input
from .config import TrainConfig
from .ddp import wrap_ddp
from .auto_resume import AutoResume, agree, choose_resume
from .errors import TrainingError, TrainingStopped
from .host_memory import keep_freed_memory
from .losses import training_losses
from .scalars import dropped_events, open_scalars
from .work_dir import (
    LOCK_NAME, TRAINING_STATE_KEYS, WorkDirLock, clear_run, config_changes, existing_run_files, foreign_entries,
    logged_validation, remove_stale_temporaries, truncate_log,
)


def _wants_cuda(config: TrainConfig) -> bool:
    return config.device == "cuda" or (config.device == "auto" and torch.cuda.is_available())


def _device(config: TrainConfig, local_rank: int) -> torch.device:
    if _wants_cuda(config):
        if not torch.cuda.is_available():
            raise ConfigError("device: cuda requested but CUDA is not available")
        if local_rank >= torch.cuda.device_count():  # torchrun --nproc_per_node above the GPUs this node has
            raise ConfigError(f"this is process {local_rank} of its node (LOCAL_RANK) but the node has "
                              f"{torch.cuda.device_count()} CUDA device(s) visible: run one process per GPU "
                              f"(torchrun --nproc_per_node {torch.cuda.device_count()}), or check CUDA_VISIBLE_DEVICES")
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def data_source(data: Any) -> str:
    """Where the dataset's facts come from, for messages: its dataset.yaml or the benchmark's name."""
    return f"{Path(data.root) / 'dataset.yaml'}" if data.type == "custom" else f"the {data.type} benchmark"


def model_config_for(config: TrainConfig, info: DataDescription) -> Any:
    """The model config of a run: the zoo entry or the inline config, the backbone initialisation
    override, and the dataset's number of classes and ignore label (the dataset owns both: an unset
    value is filled in, a different one is an error naming both sources)."""
    named = isinstance(config.model, str)
    mc = get_entry(config.model).config if named else config.model
    if config.init_checkpoint and isinstance(mc, ModelConfig):
        # init_checkpoint overwrites every backbone weight: fetching the ImageNet backbone first would be a
        # download (or, offline, an error) for nothing, also where a recipe says pretrained_backbone: true
        mc = dataclasses.replace(mc, backbone=dataclasses.replace(mc.backbone, pretrained=False))
    elif config.pretrained_backbone is not None and isinstance(mc, ModelConfig):
        mc = dataclasses.replace(mc, backbone=dataclasses.replace(mc.backbone, pretrained=config.pretrained_backbone))
    source = data_source(config.data)
    if mc.num_classes is not None and mc.num_classes != info.num_classes and not named:  # a zoo name is an architecture
        raise ConfigError(f"model.num_classes is {mc.num_classes} in the training config but the dataset ({source}) has "
                          f"{info.num_classes} classes; remove model.num_classes (the dataset sets it) or fix one of them")
    if mc.ignore_index is not None and mc.ignore_index != info.ignore_index:
        raise ConfigError(f"model.ignore_index is {mc.ignore_index} in the training config but the dataset's ignore label "
                          f"is {info.ignore_index} ({source}); remove model.ignore_index (the dataset sets it) or fix one of them")
    return dataclasses.replace(mc, num_classes=info.num_classes, ignore_index=info.ignore_index)


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


def _barrier() -> None:
    if is_distributed():
        torch.distributed.barrier()


def _all_finite(tensors) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in tensors if t.is_floating_point())


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
            raise ConfigError(f"the training split holds {n} sample(s), fewer than one batch (batch_size: {batch}): "
                              f"lower batch_size to {n} or less, or add images")

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


def _leave_stop_signals_to_the_trainer(worker_id: int) -> None:  # noqa: ARG001
    # A scheduler's SIGTERM (SLURM signals every process of the job) must not kill a data worker
    # before the trainer has written latest.pt; the trainer shuts its workers down itself.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def _batches_of(loader: torch.utils.data.DataLoader):
    """Iterate ``loader`` and always shut its workers down on leaving, an error included.

    Left to the garbage collector, an iterator kept alive by a traceback keeps its workers too; as they
    ignore SIGTERM, the interpreter's exit (multiprocessing terminates, then joins its children) would
    then wait for them forever. A worker that does not leave in torch's own shutdown is killed.
    """
    batches = iter(loader)
    try:
        yield batches
    finally:
        shut_down = getattr(batches, "_shutdown_workers", None)
        if shut_down is not None:
            shut_down()
            for worker in getattr(batches, "_workers", ()):
                if worker.is_alive():
                    worker.kill()
                    worker.join(5)


def _collate(samples: list[dict]) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.stack([s["image"] for s in samples]), torch.stack([s["label"] for s in samples])


# ----------------------------------------------------------------------------------- checkpoints
def _rng_states(device: torch.device) -> dict[str, torch.Tensor]:
    states = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    return states


# ---------------------------------------------------------------------------------------- train
def _init_weights(config: TrainConfig) -> Path:
    """The local file of ``init_checkpoint``: a path, a URL (downloaded once into the cache), a model folder
    or ``hf-hub:user/repo`` (its model.safetensors), or ``official`` for the published weights of the zoo
    model the config names (fine-tuning it)."""
    from ..models.download import fetch
    from ..models.model_folder import is_folder_or_hub, resolve
    from ..models.zoo import MODEL_ZOO

    source = config.init_checkpoint
    if is_folder_or_hub(source):
        return resolve(source)
    if Path(source).is_dir():
        trained = run_weights(source)
        raise ConfigError(f"init_checkpoint: {source} is a " + (
            f"training run's folder: its weights are {' or '.join(map(str, trained))}" if trained else
            "folder; expected a weights file (.safetensors, a training state or an official .pth), a model folder, "
            "a URL or official"))
    if source == "official":
        entry = MODEL_ZOO.get(config.model) if isinstance(config.model, str) else None
        if entry is None or entry.checkpoint_url is None:
            raise ConfigError("init_checkpoint: official means the published weights of a zoo model; "
                              + ("this zoo model has none" if entry is not None else
                                 "model is not a zoo name here: give a path or URL"))
        return fetch(entry.checkpoint_url, entry.checkpoint_sha256)
    return fetch(source)


class Trainer:
    """One training run. Construction is the set-up: datasets, model, optimiser, a resumed state;
    it raises a :class:`ConfigError`/:class:`CheckpointError` naming the problem before any output is
    written. ``resume``: True for ``work_dir/latest.pt``, a checkpoint path, or ``"auto"`` (also
    ``config.resume``): continue the work dir's run of this config if there is one, else start
    (:mod:`.auto_resume`). ``overwrite``: start afresh in a work dir that holds another run (its run files
    are removed). ``allow_config_change``: resume although the config differs from the checkpoint's in
    more than :data:`RESUMABLE_CHANGES`.
    """

    def __init__(
        self,
        config: TrainConfig,
        resume: str | os.PathLike | bool | None = None,
        overwrite: bool = False,
        allow_config_change: bool = False,
    ) -> None:
        # The saved config.yaml is what test, compare and robustness are pointed at later, from any folder:
        # a dataset root relative to where training started would not be found from elsewhere.
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, root=os.path.abspath(config.data.root)))
        self.config = config
        if config.keep_freed_memory:
            keep_freed_memory()
        init_distributed("cuda" if _wants_cuda(config) else "cpu")
        self.rank, self.world, local_rank = world_info()
        self.device = _device(config, local_rank)
        self.work_dir = Path(config.work_dir)
        self.latest = self.work_dir / "latest.pt"
        self.auto = not overwrite and (resume == "auto" or (resume is None and config.resume == "auto"))
        self.finished = False
        self._ran, self._failed = False, False
        self._preloaded: tuple[Path, Any] | None = None
        other = [] if existing_run_files(self.work_dir) else foreign_entries(self.work_dir)
        if other:  # checked before .lock is written there
            shown = ", ".join(other[:5]) + (", …" if len(other) > 5 else "")
            raise ConfigError(f"work_dir {self.work_dir} holds files that are not a training run's ({shown}): a run "
                              "writes its config.yaml, log and checkpoints there; choose a new or empty folder, such "
                              "as runs/NAME")
        created = not self.work_dir.exists()
        self._lock = self._claim_work_dir()
        try:
            if self.auto:
                resume, overwrite = self._decide_auto(allow_config_change)
            self._prepare_work_dir(resume, overwrite)
            self._set_up(resume, overwrite, allow_config_change)
        except BaseException:
            self._release_work_dir()
            if created:  # a run refused at set-up (a bad value, a missing dataset) leaves no empty folder behind
                with contextlib.suppress(OSError):
                    if self.rank == 0:  # the lock's holder: another rank must not remove it under rank 0
                        (self.work_dir / LOCK_NAME).unlink(missing_ok=True)
                    self.work_dir.rmdir()  # only if still empty
            raise

    def _claim_work_dir(self) -> WorkDirLock | None:
        """Rank 0 locks the work dir for this run, and every rank learns whether it could: two runs writing
        one folder would replace each other's checkpoints and lose each other's log."""
        lock, problem = None, None
        if self.rank == 0:
            try:
                self.work_dir.mkdir(parents=True, exist_ok=True)
                lock = WorkDirLock(self.work_dir)
            except ConfigError as err:
                problem = str(err)
            except OSError as err:
                problem = f"work_dir {self.work_dir} is not writable: {err}"
        if self.world > 1:
            box = [problem]
            torch.distributed.broadcast_object_list(box, src=0)
            problem = box[0]
        if problem:
            raise ConfigError(problem)
        return lock

    def _release_work_dir(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _set_up(self, resume: Any, overwrite: bool, allow_config_change: bool) -> None:
        config = self.config
        self.train_set, self.val_set = build_datasets(config.data, config.seed)
        check_not_an_input(self.work_dir, "work_dir", samples=[*self.train_set.samples, *self.val_set.samples])
        self.ignore_index = self.train_set.info.ignore_index
        model_config = model_config_for(config, self.train_set.info)
        published = get_entry(config.model).config.num_classes if isinstance(config.model, str) else None
        if published not in (None, model_config.num_classes) and self.rank == 0 and not resume:  # once a run
            print(f"model {config.model} was published for {published} classes; it is built for the "
                  f"{model_config.num_classes} of {data_source(config.data)}", flush=True)
        self.data_description = run_description(config.data, self.val_set).to_json()
        # Total batch kept for any number of processes: uneven shares are weighted by their size.
        _, self.num_chunks = _shares(config.batch_size, self.world, config.max_batch_per_process)
        self.order = _Order(len(self.train_set), config.batch_size, config.seed, self.rank, self.world)
        self._build(model_config, initial_weights=not resume)  # a resumed state overwrites every weight
        self.start, self.best = 0, -1.0
        if resume:
            self._load_state(self.latest if resume is True else Path(resume), allow_config_change)
        self.nan_skips = 0
        self.pending_validation = bool(resume) and self._resumed_validation()
        if not self.finished:  # a finished run's files (log, config, skip list) stay as they are
            self._open_outputs(bool(resume), overwrite)

    def _decide_auto(self, allow_config_change: bool) -> tuple[Path | None, bool]:
        """``resume: auto``: rank 0 looks at the work dir, every rank takes its decision; returns the
        state to resume from (None: start) and whether to clear an earlier attempt's files."""
        decision: AutoResume | Exception | None = None
        if self.rank == 0:
            try:
                decision, state = choose_resume(self.config, allow_config_change)
                if decision.checkpoint is not None:
                    self._preloaded = (decision.checkpoint, state)
            except (ConfigError, CheckpointError, OSError) as err:
                decision = err
        decision = agree(decision, self.rank, self.world)
        if self.rank == 0:
            print(decision.message, flush=True)
        return decision.checkpoint, decision.clear

    def _resumed_validation(self) -> bool:
        """Whether the resumed iteration's validation must run again (a kill during it left no record);
        a finished run is refused, since resuming it would only rewrite its files."""
        config, start = self.config, self.start
        due = start > 0 and (start % config.val_interval == 0 or start == config.iterations)
        logged = logged_validation(self.work_dir / "log.jsonl", start) if due else None
        if logged is not None:
            self.best = max(self.best, logged)  # the state was saved just before this validation
        pending = due and logged is None
        if start >= config.iterations and not pending and (self.work_dir / "final.safetensors").is_file():
            if self.auto:  # a requeued job that had already finished: nothing to do, and no error
                self.finished = True
                return False
            raise ConfigError(f"the run in {self.work_dir} is finished (iteration {start} of {config.iterations}); "
                              "nothing to resume. To train longer, resume with --set iterations=N "
                              "--allow-config-change; to start again, pass --overwrite")
        return pending

    # ------------------------------------------------------------------------------------ set-up
    def _prepare_work_dir(self, resume: Any, overwrite: bool) -> None:
        work_dir = self.work_dir
        try:
            work_dir.mkdir(parents=True, exist_ok=True)
            probe = work_dir / f".write_test.{os.getpid()}"  # one per process: ranks share the folder
            probe.write_text("ok")
            probe.unlink()
        except OSError as err:
            raise ConfigError(f"work_dir {work_dir} is not writable: {err}") from err
        found = existing_run_files(work_dir)
        if found and not resume and not overwrite:
            names = ", ".join(p.name for p in found[:4]) + (" …" if len(found) > 4 else "")
            raise ConfigError(f"work_dir {work_dir} already holds a run ({names}): pass --resume to continue it, "
                              "--overwrite to replace it, or choose another --work-dir")

    def _build(self, model_config: Any, initial_weights: bool = True) -> None:
        config, device = self.config, self.device
        torch.manual_seed(config.seed)
        model: Segmentor = build_any(model_config)
        if config.init_checkpoint and initial_weights:
            state, _, _ = read_checkpoint(_init_weights(config))
            fresh = load_state_dict_strict(model, state, config.init_checkpoint, other_classes=True)
            if fresh and self.rank == 0:
                print(f"init_checkpoint {config.init_checkpoint} has another number of classes than this dataset's "
                      f"{model.num_classes}: its {len(fresh)} tensor(s) sized by the classes start afresh "
                      f"({', '.join(fresh[:3])}{', …' if len(fresh) > 3 else ''}); every other weight is loaded",
                      flush=True)
        if self.world > 1:
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
            # In place (nn.Module.compile), so state_dict keys and checkpoints stay the same. A head that
            # replays a saved RNG state (IDRNet's diagnostics replay the dropout masks) stays eager:
            # compiled random number generation does not promise the same draws.
            for module in model.compile_parts():
                module.compile()
        groups = _param_groups(model, config)
        if config.optim.type == "sgd":
            self.optimizer: torch.optim.Optimizer = torch.optim.SGD(groups, lr=config.optim.lr, momentum=config.optim.momentum)
        else:
            self.optimizer = torch.optim.AdamW(groups, lr=config.optim.lr, betas=config.optim.betas)
        self.scaler = torch.amp.GradScaler(device.type, enabled=config.amp == "fp16")
        self.model = model
        self.ddp: Any = None
        if self.world > 1:
            self.ddp = wrap_ddp(model, device_ids=[device.index] if device.type == "cuda" else None)
        # Under DDP the training forward must go through the wrapper so gradients are synchronised.
        self.trainee = self.ddp if self.ddp is not None else model
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(config.amp)

    def _load_state(self, path: Path, allow_config_change: bool) -> None:
        if not path.is_file():
            raise not_a_file(path, "cannot resume:", "state")
        if path.suffix == ".safetensors":  # said before reading: torch cannot read the file to find out
            raise CheckpointError(f"cannot resume from {path}: it holds model weights only (no optimiser state or "
                                  "iteration); resume from the work dir's latest.pt or iter_N.pt, or start a new run "
                                  f"from these weights with --set init_checkpoint={path}")
        try:
            preloaded = self._preloaded
            self._preloaded = None
            ckpt = preloaded[1] if preloaded and preloaded[0] == path else load_weights_only(path, "a training state")
        except CheckpointError as err:
            raise CheckpointError(f"cannot resume: {err}; resume from one of the work dir's iter_N.pt files "
                                  "instead") from err
        if not isinstance(ckpt, dict) or any(k not in ckpt for k in TRAINING_STATE_KEYS):
            raise CheckpointError(f"cannot resume from {path}: not a training state written by idrnet train "
                                  f"(expected the keys {', '.join(TRAINING_STATE_KEYS)})")
        if "config" in ckpt:
            changes = config_changes(parse_json(ckpt["config"], f"{path}:config"), to_dict(self.config))
            if changes and not allow_config_change:
                shown = "; ".join(changes[:6]) + (" …" if len(changes) > 6 else "")
                raise ConfigError(f"the config differs from the one {path} was trained with ({shown}); resuming would "
                                  "not continue the same run. Use the saved config (WORK_DIR/config.yaml), or pass "
                                  "--allow-config-change to resume anyway")
        load_state_dict_strict(self.model, ckpt["model"], str(path))
        try:
            self.optimizer.load_state_dict(ckpt["optimizer"])
        except (ValueError, KeyError) as err:
            raise CheckpointError(f"cannot resume from {path}: its optimiser state does not fit ({err})") from err
        self.scaler.load_state_dict(ckpt["scaler"])
        torch.set_rng_state(ckpt["rng"]["cpu"])
        if "cuda" in ckpt["rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(ckpt["rng"]["cuda"], self.device)
        self.start, self.best = int(ckpt["iteration"]), float(ckpt["best_miou"])

    def _open_outputs(self, resumed: bool, overwrite: bool) -> None:
        """Set-up succeeded: only now is the work dir changed (old run cleared on --overwrite, stale
        temporary files and the skip list removed, the log cut back to the resumed iteration)."""
        _barrier()  # every process has checked the work dir before rank 0 changes it
        work_dir = self.work_dir
        self.skip_log = work_dir / "skipped_samples.txt"
        if self.rank == 0:
            if overwrite and not resumed:
                clear_run(work_dir)
            remove_stale_temporaries(work_dir)
            self.skip_log.unlink(missing_ok=True)  # a fresh list per run
            if resumed:
                truncate_log(work_dir / "log.jsonl", self.start)
            write_text(work_dir / "config.yaml", yaml.safe_dump(to_dict(self.config), sort_keys=False))
        _barrier()
        if self.config.data.skip_bad_samples:
            self.train_set.skip_log = self.val_set.skip_log = self.skip_log
        self._open_records()

    def _open_records(self) -> None:
        self.log = open(self.work_dir / "log.jsonl", "a") if self.rank == 0 else None
        # TensorBoard events (tensorboardX: no TensorFlow needed); a failed write drops them, nothing more
        self.scalars = open_scalars(self.work_dir / "tensorboard") if self.rank == 0 else None

    # ------------------------------------------------------------------------------------- steps
    def step(self, images: torch.Tensor, targets: torch.Tensor, lr: float) -> dict[str, torch.Tensor] | None:
        """One optimiser step on the process's share of a total batch, in micro-batches. Returns the
        loss terms (means over the process's share), or None when a loss was not finite (no update)."""
        config, world = self.config, self.world
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        losses: dict[str, torch.Tensor] = {}
        chunks = list(zip(images.tensor_split(self.num_chunks), targets.tensor_split(self.num_chunks)))
        for index, (chunk_images, chunk_targets) in enumerate(chunks):
            # Gradients are synchronised across processes on the last micro-batch only. DDP averages
            # over processes, so a chunk's mean loss weighs n_chunk * world / batch: every sample of the
            # total batch then counts the same, even in uneven shares.
            last = index == len(chunks) - 1
            sync = self.ddp.no_sync() if self.ddp is not None and not last else contextlib.nullcontext()
            weight = len(chunk_images) * world / config.batch_size
            with sync:
                with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
                    chunk_losses = training_losses(self.trainee, chunk_images, chunk_targets, ignore_index=self.ignore_index)
                total = chunk_losses["total"] * weight
                if not self._agreed_finite(total):
                    self.optimizer.zero_grad(set_to_none=True)
                    self.bad_loss = float(total.detach())
                    return None
                self.scaler.scale(total).backward()
            for k, v in chunk_losses.items():
                losses[k] = losses.get(k, 0) + v.detach() * len(chunk_images) / len(images)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return losses

    def _agreed_stop(self, signalled: bool) -> bool:
        """Whether any process was signalled to stop (all stop together, or none)."""
        if self.world == 1:
            return signalled
        flag = torch.tensor([int(signalled)], dtype=torch.int32, device=self.device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        return bool(flag.item())

    def _agreed_finite(self, total: torch.Tensor) -> bool:
        """Whether the loss is finite on every process (all must skip a step together, or none)."""
        finite = torch.isfinite(total.detach()).to(torch.int32).reshape(1)
        if self.world > 1:
            torch.distributed.all_reduce(finite, op=torch.distributed.ReduceOp.MIN)
        return bool(finite.item())

    def _on_non_finite(self, iteration: int) -> None:
        where = self.latest if self.latest.exists() else "not written yet"
        if self.config.on_nan == "stop":
            raise TrainingError(f"non-finite loss ({self.bad_loss}) at iteration {iteration}; the last good checkpoint "
                                f"is {where}. Lower optim.lr or check the data; on_nan: skip skips such steps")
        self.nan_skips += 1
        if self.nan_skips > self.config.max_nan_skips:
            raise TrainingError(f"{self.nan_skips} steps had a non-finite loss (latest at iteration {iteration}), more "
                                f"than max_nan_skips={self.config.max_nan_skips}; the last good checkpoint is {where}")

    def _batch_mean(self, losses: dict[str, torch.Tensor], share: int) -> dict[str, float]:
        """Loss terms averaged over the whole total batch (every process's share, by its size)."""
        names = sorted(losses)
        values = torch.stack([losses[k].float().reshape(()) for k in names])
        if self.world > 1:
            values = values * (share / self.config.batch_size)
            torch.distributed.all_reduce(values)
        return {k: float(v) for k, v in zip(names, values)}

    def validate(self, iteration: int) -> dict[str, Any]:
        """Evaluate on the validation split; keep ``best.safetensors`` when the mIoU improves."""
        from tqdm import tqdm

        metrics = evaluate(self.model, self.val_set, self.device)
        self._record({"iteration": iteration, "val_mIoU": metrics["mIoU"], "val_aAcc": metrics["aAcc"]})
        if self.rank == 0:  # every validation on the console, not only the last (above the progress bar)
            tqdm.write(f"iteration {iteration}: val mIoU {100 * metrics['mIoU']:.2f}, aAcc {100 * metrics['aAcc']:.2f}")
        if self.scalars:
            for key in ("mIoU", "aAcc", "mAcc"):
                self.scalars.add_scalar(f"val/{key}", metrics[key], iteration)
        if metrics["mIoU"] > self.best:
            self.best = metrics["mIoU"]
            self.save_weights(self.work_dir / "best.safetensors", iteration)
        return metrics

    def save_state(self, path: Path, iteration: int) -> None:
        """Write the resumable training state atomically — only when every weight is finite, so the
        last checkpoint is always a good one."""
        self._check_finite_weights(iteration)
        if self.rank != 0:
            return
        with atomic_path(path) as tmp:
            torch.save({
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scaler": self.scaler.state_dict(), "rng": _rng_states(self.device), "iteration": iteration,
                "best_miou": self.best, "config": json.dumps(to_dict(self.config)),
            }, tmp)

    def save_weights(self, path: Path, iteration: int) -> None:
        """Write the model (weights, config and data description) as safetensors, if its weights are finite."""
        self._check_finite_weights(iteration)
        if self.rank == 0:
            save_checkpoint(self.model, path, data_description=self.data_description)

    def _check_finite_weights(self, iteration: int) -> None:
        if not _all_finite(self.model.state_dict().values()):
            where = self.latest if self.latest.exists() else "not written yet"
            raise TrainingError(f"the weights became non-finite by iteration {iteration} although the loss was finite "
                                f"(too high a learning rate?); nothing was saved; the last good checkpoint is {where}")

    def _record(self, record: dict[str, Any]) -> None:
        if self.log:
            self.log.write(json.dumps(record) + "\n")
            self.log.flush()

    # --------------------------------------------------------------------------------------- run
    def run(self, max_iterations: int | None = None) -> dict[str, Any]:
        """Train to ``config.iterations`` (or stop after iteration ``max_iterations``, with a resumable
        state, without changing the schedule); returns the last validation metrics and paths. Called again
        (after ``max_iterations``, or a stop on Ctrl-C), it continues where the last call stopped."""
        from tqdm import tqdm

        config, rank = self.config, self.rank
        if self._failed:
            raise TrainingError(f"this Trainer stopped on an error; its state in memory may be half-updated. "
                                f"Build a new one with resume='auto' to continue from {self.latest}")
        if self.finished:
            self._release_work_dir()
            if rank == 0:
                print(f"the run in {self.work_dir} is finished (iteration {self.start} of {config.iterations}); "
                      "nothing to do", flush=True)
            return {"iteration": self.start, "metrics": {}, "best_miou": self.best, "work_dir": str(self.work_dir),
                    "skipped_non_finite_steps": 0}
        if self._ran:  # the last call released the work dir and closed the log
            self._lock = self._claim_work_dir()
            self._open_records()
        self._ran = True
        stop_signal: list[int] = []

        def on_signal(signum, frame):  # noqa: ARG001
            stop_signal.append(signum)

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        bar = tqdm(total=config.iterations, initial=self.start, disable=rank != 0, desc="train", dynamic_ncols=True)
        metrics: dict[str, Any] = {}
        end = min(config.iterations, max_iterations) if max_iterations else config.iterations
        iteration = self.start
        self.model.train()  # evaluate() restores train mode after validating
        window_start, window_images = time.perf_counter(), 0
        stopping = False
        try:
            if self.pending_validation:
                metrics = self.validate(iteration)
                self.pending_validation = False
            while iteration < end and not stopping:
                epoch, position = divmod(iteration, self.order.batches_per_epoch)
                self.train_set.epoch = epoch
                with _batches_of(self._loader(epoch, position)) as batches:
                    for images, targets in batches:
                        # Every process stops after the same iteration, even when the signal reached them
                        # at different moments (a scheduler signals each rank on its own).
                        stopping = self._agreed_stop(bool(stop_signal))
                        if iteration >= end or stopping:
                            break
                        images, targets = images.to(self.device, non_blocking=True), targets.to(self.device, non_blocking=True)
                        if config.channels_last:
                            images = images.contiguous(memory_format=torch.channels_last)
                        lr = poly_lr(config, iteration)
                        losses = self.step(images, targets, lr)
                        if losses is None:
                            self._on_non_finite(iteration)
                            self._record({"iteration": iteration + 1, "skipped_non_finite_steps": self.nan_skips})
                        iteration += 1
                        bar.update(1)
                        if losses is not None:
                            window_images += config.batch_size
                            if iteration % config.log_interval == 0 or iteration == end:
                                now = time.perf_counter()
                                record = {"iteration": iteration, "lr": lr,
                                          **{f"loss_{k}": v for k, v in self._batch_mean(losses, len(images)).items()},
                                          "images_per_s": window_images / max(now - window_start, 1e-9)}
                                window_start, window_images = now, 0
                                bar.set_postfix(loss=f"{record['loss_total']:.3f}", lr=f"{lr:.2e}",
                                                ips=f"{record['images_per_s']:.1f}")
                                self._record(record)
                                if self.scalars:
                                    for key, value in record.items():
                                        if key != "iteration":
                                            self.scalars.add_scalar(f"train/{key}", value, iteration)
                        if iteration % config.checkpoint_interval == 0:
                            self.save_state(self.latest, iteration)
                            self.save_state(self.work_dir / f"iter_{iteration}.pt", iteration)
                        if iteration % config.val_interval == 0 or iteration == config.iterations:
                            metrics = self.validate(iteration)
            self.save_state(self.latest, iteration)
            if iteration >= config.iterations:
                self.save_weights(self.work_dir / "final.safetensors", iteration)
            _barrier()  # no process exits (which makes torchrun stop the others) before rank 0 has written
        except BaseException:
            failed = self._failed = True
            raise
        else:
            failed = False
        finally:
            bar.close()
            # Closing flushes: on a full disk that fails too, and must not replace the error being raised.
            with contextlib.suppress(OSError) if failed else contextlib.nullcontext():
                if self.log:
                    self.log.close()
            if self.scalars:
                self.scalars.close()
            for s, handler in previous.items():
                signal.signal(s, handler)
            self._release_work_dir()
        if rank == 0:
            if self.scalars and dropped_events() is not None:
                print(f"warning: TensorBoard events were not all written ({dropped_events()}); log.jsonl has the figures")
            if self.skip_log.is_file():
                skipped = sorted(set(self.skip_log.read_text().splitlines()))
                print(f"skipped {len(skipped)} bad sample(s) (listed in {self.skip_log}):", *skipped[:50], sep="\n  ")
            if self.nan_skips:
                print(f"skipped {self.nan_skips} step(s) with a non-finite loss (on_nan: skip; limit "
                      f"{config.max_nan_skips}); see log.jsonl")
        self.start, self.finished = iteration, iteration >= config.iterations  # for a next call
        if stopping:
            signum = stop_signal[0] if stop_signal else signal.SIGTERM  # another rank's signal
            raise TrainingStopped(f"stopped by {signal.Signals(signum).name} at iteration {iteration}; latest.pt holds "
                                  "it: run the same command with --resume (or --resume auto) to continue", signum)
        return {"iteration": iteration, "metrics": metrics, "best_miou": self.best, "work_dir": str(self.work_dir),
                "skipped_non_finite_steps": self.nan_skips}

    def _loader(self, epoch: int, position: int) -> torch.utils.data.DataLoader:
        # Our own generator, so creating a loader (e.g. after a resume) never draws from the global RNG
        # that dropout and deletion sampling use; augmentation is seeded per sample.
        return torch.utils.data.DataLoader(
            self.train_set, batch_sampler=self.order.batch_indices(epoch)[position:],
            num_workers=self.config.data.num_workers, collate_fn=_collate, pin_memory=self.device.type == "cuda",
            worker_init_fn=_leave_stop_signals_to_the_trainer,
            generator=torch.Generator().manual_seed(self.config.seed + epoch),
        )


def train(
    config: TrainConfig,
    resume: str | os.PathLike | bool | None = None,
    max_iterations: int | None = None,
    overwrite: bool = False,
    allow_config_change: bool = False,
) -> dict[str, Any]:
    """Train as ``config`` says (see :class:`Trainer`); returns the last validation metrics and paths.

    ``max_iterations`` stops early (after writing a resumable checkpoint) without changing the schedule.
    """
    return Trainer(config, resume, overwrite, allow_config_change).run(max_iterations)


def evaluate(model: Segmentor, dataset: SegmentationDataset, device: torch.device) -> dict[str, Any]:
    """Periodic validation: single-scale with the model's inference settings, all-reduced under DDP."""
    from ..evaluation.evaluator import evaluate as evaluate_dataset

    return evaluate_dataset(model, dataset, device)
