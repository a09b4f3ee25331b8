"""Past one process, for real: torchrun on the CPU (gloo). A worker killed with kill -9 is restarted by
torchrun and the job ends with the weights of an uninterrupted one; SIGTERM to every process (a
preemption) leaves one consistent latest.pt that --resume auto continues (a single process's exit code:
test_training); two agents (two "nodes" on one
host) train as one process with the same total batch; a node that never arrives ends in torchrun's
rendezvous timeout, not a hang."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from idrnet.data.synth import write_synthetic_dataset

from runs import write_config

TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]


def _env(**extra: str) -> dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", CUDA_VISIBLE_DEVICES="", **extra)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A config of 30 IDRNet iterations (checkpoint every 5) and the weights of an uninterrupted
    2-process torchrun of it."""
    root = tmp_path_factory.mktemp("elastic")
    write_synthetic_dataset(root / "data", 8, 2, 32, seed=0, progress=False)
    config = write_config(root, root / "data", iterations=30, batch_size=4, val_interval=1000, checkpoint_interval=5,
                          work_dir=str(root / "straight"))
    done = subprocess.run(TORCHRUN + ["--standalone", "--nproc-per-node", "2", "-m", "idrnet.cli.main", "train",
                                      str(config)], env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return root, config, root / "straight" / "final.safetensors"


def _same_weights(a: Path, b: Path) -> None:
    a_state, b_state = load_file(str(a)), load_file(str(b))
    assert a_state.keys() == b_state.keys()
    for key in a_state:
        assert torch.equal(a_state[key], b_state[key]), key


def _iteration(latest: Path) -> int:
    try:
        return int(torch.load(latest, weights_only=True)["iteration"])
    except Exception:  # noqa: BLE001 - not there yet
        return 0


def _worker_pid(mark: str, rank: int) -> int | None:
    """The training process of ``rank`` among those started with IDRNET_TEST_MARK=mark (not torchrun)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if (f"IDRNET_TEST_MARK={mark}".encode() in environ and f"RANK={rank}".encode() in environ
                and b"idrnet.cli.main" in cmdline and b"torch.distributed.run" not in cmdline):
            return int(pid)
    return None


def _run_until_checkpoint(command: list[str], latest: Path, env: dict[str, str], act, log: Path) -> subprocess.Popen:
    """Start ``command``; once ``latest`` holds iteration ≥ 5, call ``act(process)``; wait for the end."""
    process = subprocess.Popen(command, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                               start_new_session=True)
    acted, deadline = False, time.time() + 300
    while process.poll() is None and time.time() < deadline:
        if not acted and _iteration(latest) >= 5:
            act(process)
            acted = True
        time.sleep(0.05)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        pytest.fail(f"the job did not end within 300 s: {log.read_text()[-3000:]}")
    assert acted, f"the job ended before its first checkpoint: {log.read_text()[-3000:]}"
    return process


@pytest.mark.parametrize("rank", [1, 0])
def test_a_worker_killed_with_sigkill_is_restarted_and_the_job_ends_as_an_uninterrupted_one(setup, tmp_path, rank):
    root, config, straight = setup
    mark = f"elastic-{os.getpid()}-{rank}"
    work = tmp_path / "run"
    killed: list[int] = []

    def kill_worker(_process):
        pid = _worker_pid(mark, rank)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        killed.append(_iteration(work / "latest.pt"))

    command = TORCHRUN + ["--standalone", "--nproc-per-node", "2", "--max-restarts", "1", "-m", "idrnet.cli.main",
                          "train", str(config), "--resume", "auto", "--set", f"work_dir={work}"]
    log = tmp_path / "job.log"
    process = _run_until_checkpoint(command, work / "latest.pt", _env(IDRNET_TEST_MARK=mark), kill_worker, log)
    text = log.read_text()
    assert process.returncode == 0, text[-3000:]
    assert "resume auto: continuing the run" in text and "internal error" not in text
    assert "lost another process of the job" in text  # the survivor's one line, not a traceback of ours
    _same_weights(work / "final.safetensors", straight)


def test_sigterm_to_every_process_writes_one_latest_and_the_same_command_continues(setup, tmp_path):
    root, config, straight = setup
    work = tmp_path / "run"
    command = TORCHRUN + ["--standalone", "--nproc-per-node", "2", "-m", "idrnet.cli.main", "train", str(config),
                          "--resume", "auto", "--set", f"work_dir={work}", "--set", "data.num_workers=1"]
    log = tmp_path / "job.log"
    # the agent, both workers and their data workers, as SLURM's scancel --signal=TERM does
    _run_until_checkpoint(command, work / "latest.pt", _env(), lambda p: os.killpg(p.pid, signal.SIGTERM), log)
    text = log.read_text()
    stopped = [line for line in text.splitlines() if "stopped by SIGTERM at iteration" in line]
    assert len(stopped) == 2, text[-3000:]  # both ranks, at the same iteration
    at = {line.split("stopped by SIGTERM at iteration ")[1].split(";")[0] for line in stopped}
    assert len(at) == 1 and _iteration(work / "latest.pt") == int(at.pop())
    assert not (work / "final.safetensors").exists()
    again = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resume auto: continuing the run" in again.stdout
    _same_weights(work / "final.safetensors", straight)


def test_two_agents_on_one_host_train_as_one_process_with_the_same_total_batch(tmp_path):
    """torchrun --nnodes 2 (c10d rendezvous on 127.0.0.1) × 1 process against one process: a dropout-free
    FCN, so only the summation order differs (as in test_training's 2-process test)."""
    write_synthetic_dataset(tmp_path / "data", 8, 2, 32, seed=0, progress=False)
    base = {"model": {"num_classes": 11, "backbone": {"name": "resnet18v1c", "base_width": 4},
                      "head": {"type": "fcn", "feats_channels": 16, "dropout": 0.0},
                      "auxiliary": {"channels": 16, "dropout": 0.0}},
            "data": {"root": str(tmp_path / "data"), "scale": [64, 32], "crop": [32, 32], "num_workers": 0,
                     "ratio_range": [1.0, 1.0]},
            "iterations": 4, "batch_size": 4, "val_interval": 1000, "checkpoint_interval": 1000, "log_interval": 1,
            "device": "cpu"}
    config = tmp_path / "t.yaml"
    config.write_text(yaml.safe_dump({**base, "work_dir": str(tmp_path / "one")}))
    one = subprocess.run([sys.executable, "-m", "idrnet.cli.main", "train", str(config)], env=_env(),
                         capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr[-3000:]
    port = _free_port()
    agents = [subprocess.Popen(TORCHRUN + ["--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d",
                                           "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "two-agents",
                                           "-m", "idrnet.cli.main", "train", str(config), "--set",
                                           f"work_dir={tmp_path / 'two'}"],
                               env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
              for _ in range(2)]
    outputs = [agent.communicate(timeout=300)[0] for agent in agents]
    assert all(agent.returncode == 0 for agent in agents), outputs[0][-2000:] + outputs[1][-2000:]
    a, b = load_file(str(tmp_path / "one" / "final.safetensors")), load_file(str(tmp_path / "two" / "final.safetensors"))
    for key in a:
        if a[key].dtype.is_floating_point:
            torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5, msg=lambda m, k=key: f"{k}: {m}")


def test_a_node_that_never_arrives_ends_in_the_rendezvous_timeout(tmp_path):
    """--nnodes 2 with one agent: torchrun gives up after --rdzv-conf join_timeout (600 s by default; 5 here)
    with RendezvousTimeoutError and a non-zero exit, before any training process starts."""
    config = tmp_path / "t.yaml"
    config.write_text(yaml.safe_dump({"model": "fcn_r50_ade20k", "data": {"root": str(tmp_path)}}))
    start = time.time()
    done = subprocess.run(TORCHRUN + ["--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d",
                                      "--rdzv-endpoint", f"127.0.0.1:{_free_port()}", "--rdzv-conf", "join_timeout=5",
                                      "-m", "idrnet.cli.main", "train", str(config)],
                          env=_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "RendezvousTimeoutError" in done.stderr
    assert time.time() - start < 60
    assert not (tmp_path / "runs").exists()


def test_a_process_whose_peers_never_come_fails_after_idrnet_dist_timeout(tmp_path):
    """Started as rank 1 of 2 by hand (static launch, no torchrun agent) with nobody at MASTER_ADDR: one
    line naming the address and the timeout, after IDRNET_DIST_TIMEOUT seconds, not a hang."""
    write_synthetic_dataset(tmp_path / "data", 4, 1, 32, seed=0, progress=False)
    config = write_config(tmp_path, tmp_path / "data", "t.yaml")
    port = _free_port()
    start = time.time()
    done = subprocess.run([sys.executable, "-m", "idrnet.cli.main", "train", str(config)], capture_output=True,
                          text=True, timeout=120,
                          env=_env(WORLD_SIZE="2", RANK="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1",
                                   MASTER_PORT=str(port), IDRNET_DIST_TIMEOUT="5"))
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"could not join the process group at 127.0.0.1:{port} within 5 s (IDRNET_DIST_TIMEOUT)" in done.stderr
    assert "Traceback" not in done.stderr and time.time() - start < 60
    assert not (tmp_path / "run" / "latest.pt").exists()


def test_more_processes_per_node_than_gpus_is_named(monkeypatch):
    """torchrun --nproc_per_node 4 on a node with 2 GPUs failed in torch.cuda.set_device with "invalid device
    ordinal" in the processes beyond the GPUs: the process count and the GPUs are named first."""
    from idrnet.config import ConfigError
    from idrnet.data.config import DataConfig
    from idrnet.engine import trainer
    from idrnet.engine.config import TrainConfig

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    config = TrainConfig(model="idrnet_fcn_resnet50os8_ade20k", data=DataConfig(root="data"), device="cuda")
    with pytest.raises(ConfigError, match=r"process 3 of its node .* 2 CUDA device\(s\) visible.*--nproc_per_node 2"):
        trainer._device(config, 3)
