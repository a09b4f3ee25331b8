"""``--resume auto`` (or ``resume: auto`` in the config): continue the work dir's run when it is a run of
this config, start when there is none, refuse when it is another config's — decided once, by rank 0, and
the same decision taken on every rank. What a requeued (SLURM, Kubernetes) or restarted (torchrun
``--max-restarts``) job runs again and again."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..config import ConfigError, parse_json, to_dict
from ..models.checkpoint import CheckpointError, load_weights_only
from .config import TrainConfig
from .work_dir import TRAINING_STATE_KEYS, config_changes, existing_run_files, set_aside, training_states


@dataclass(frozen=True)
class AutoResume:
    """What ``resume: auto`` found: the state to continue from (None: start), whether an earlier
    attempt's files must be cleared first (it stopped before its first checkpoint), and what to tell."""

    checkpoint: Path | None
    clear: bool
    message: str


def _another_config(work_dir: Path, changes: list[str]) -> ConfigError:
    shown = "; ".join(changes[:4]) + (" …" if len(changes) > 4 else "")
    return ConfigError(f"work_dir {work_dir} holds a run of another config ({shown}); resume auto continues only "
                       "the same run: choose another work_dir, pass --overwrite to replace that run, or "
                       "--allow-config-change to continue it with this config")


def choose_resume(config: TrainConfig, allow_config_change: bool = False) -> tuple[AutoResume, Any]:
    """The decision for ``config``'s work dir, and the loaded training state it continues from (None when
    it starts). A state that cannot be read (cut by a kill or a full disk) is renamed ``….unreadable``
    and the next newest (``iter_N.pt``) is tried."""
    work_dir = Path(config.work_dir)
    current = to_dict(config)
    if not work_dir.is_dir() or not existing_run_files(work_dir):
        return AutoResume(None, False, f"resume auto: no run in {work_dir} yet; starting one"), None
    set_aside_names = []
    for path in training_states(work_dir):
        try:
            state = load_weights_only(path, "a training state")
        except CheckpointError:
            set_aside_names.append(f"{path.name} → {set_aside(path).name}")
            continue
        if not isinstance(state, dict) or any(k not in state for k in TRAINING_STATE_KEYS):
            raise CheckpointError(f"{path}: not a training state written by idrnet train (expected the keys "
                                  f"{', '.join(TRAINING_STATE_KEYS)}); resume auto will not start over it: move it away")
        changes = config_changes(parse_json(state["config"], f"{path}:config"), current) if "config" in state else []
        if changes and not allow_config_change:
            raise _another_config(work_dir, changes)
        skipped = f" (unreadable, set aside: {', '.join(set_aside_names)})" if set_aside_names else ""
        return AutoResume(path, False, f"resume auto: continuing the run in {work_dir} from {path.name} "
                                       f"(iteration {int(state['iteration'])}){skipped}"), state
    saved = work_dir / "config.yaml"
    if saved.is_file() and not allow_config_change:
        try:
            changes = config_changes(yaml.safe_load(saved.read_text()) or {}, current)
        except yaml.YAMLError:
            changes = [f"{saved.name}: not readable YAML"]
        if changes:
            raise _another_config(work_dir, changes)
    skipped = f" ({', '.join(set_aside_names)})" if set_aside_names else ""
    return AutoResume(None, True, f"resume auto: the earlier attempt in {work_dir} left no readable checkpoint"
                                  f"{skipped}; starting again"), None


def agree(decision: AutoResume | Exception, rank: int, world: int) -> AutoResume:
    """Rank 0's decision (or its error, raised on every rank with the same message) on every rank."""
    if world > 1:
        import torch.distributed as dist

        box: list[Any] = [(type(decision).__name__, str(decision)) if isinstance(decision, Exception) else decision]
        dist.broadcast_object_list(box, src=0)
        received = box[0]
        if isinstance(received, tuple):
            errors = {"ConfigError": ConfigError, "CheckpointError": CheckpointError}
            raise errors.get(received[0], ConfigError)(received[1])
        return received
    if isinstance(decision, Exception):
        raise decision
    return decision
