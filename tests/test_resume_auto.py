"""``--resume auto`` / ``resume: auto``: start when the work dir holds no run, continue a run of this config
(exactly), refuse another config's, do nothing for a finished one, step over an unreadable latest.pt."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from safetensors.torch import load_file

from idrnet.cli.main import main as cli
from idrnet.config import ConfigError
from idrnet.data.synth import write_synthetic_dataset
from idrnet.engine.config import load_train_config
from idrnet.engine.trainer import train

from runs import write_config


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    write_synthetic_dataset(root, 8, 2, 32, seed=0, progress=False)
    return root


def _config(tmp_path, synth, name="train.yaml", **extra):
    return write_config(tmp_path, synth, name, iterations=6, batch_size=4, checkpoint_interval=2, log_interval=2,
                        **extra)


def _same_weights(a, b) -> None:
    a, b = load_file(str(a)), load_file(str(b))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.fixture(scope="module")
def straight(tmp_path_factory, synth):
    """The uninterrupted run every continued one must equal."""
    folder = tmp_path_factory.mktemp("straight")
    train(load_train_config(_config(folder, synth)))
    return folder / "run" / "final.safetensors"


def test_auto_starts_then_continues_exactly_then_has_nothing_to_do(tmp_path, synth, straight, capsys):
    config = load_train_config(_config(tmp_path, synth))
    assert train(config, resume="auto", max_iterations=3)["iteration"] == 3  # as if preempted after 3
    assert "no run in" in capsys.readouterr().out
    assert torch.load(tmp_path / "run" / "latest.pt", weights_only=True)["iteration"] == 3
    assert train(config, resume="auto")["iteration"] == 6
    assert "continuing the run" in capsys.readouterr().out
    _same_weights(tmp_path / "run" / "final.safetensors", straight)
    final = tmp_path / "run" / "final.safetensors"
    (tmp_path / "run" / "skipped_samples.txt").write_text("000003\n")  # as a run with skipped samples leaves it

    def files():  # but .lock, which names the process that last held the folder
        return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in (tmp_path / "run").iterdir()
                if p.is_file() and p.name != ".lock"}

    before = files()
    result = train(config, resume="auto")  # a requeued job that had already finished
    assert result["iteration"] == 6 and "nothing to do" in capsys.readouterr().out
    after = files()
    assert after == before and final.name in after  # not one file of the finished run touched
    with pytest.raises(ConfigError, match="is finished"):  # an explicit --resume still says so
        train(config, resume=True)


def test_the_config_key_and_the_cli_flag(tmp_path, synth, straight, capsys):
    path = _config(tmp_path, synth, resume="auto")
    assert cli(["train", str(path), "--set", "iterations=6"]) == 0
    saved = tmp_path / "run" / "config.yaml"
    assert yaml.safe_load(saved.read_text())["resume"] == "auto"
    # the launcher runs the same command again (even with the saved config): nothing to do, exit 0
    assert cli(["train", str(saved)]) == 0
    assert "nothing to do" in capsys.readouterr().out
    other = tmp_path / "other"
    path = _config(tmp_path, synth, "plain.yaml", work_dir=str(other))
    assert cli(["train", str(path), "--resume", "auto", "--set", "iterations=6"]) == 0
    _same_weights(other / "final.safetensors", straight)


def test_another_configs_run_is_refused_on_one_line(tmp_path, synth, capsys):
    train(load_train_config(_config(tmp_path, synth)), max_iterations=2)
    listing = sorted(p.name for p in (tmp_path / "run").iterdir())
    path = _config(tmp_path, synth, "other.yaml", seed=3)
    with pytest.raises(ConfigError, match=r"holds a run of another config \(seed: 0 → 3\)"):
        train(load_train_config(path), resume="auto")
    capsys.readouterr()
    assert cli(["train", str(path), "--resume", "auto"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "another config" in err and "Traceback" not in err
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == listing  # nothing touched


def test_an_unreadable_latest_is_set_aside_and_the_newest_iter_checkpoint_used(tmp_path, synth, straight, capsys):
    config = load_train_config(_config(tmp_path, synth))
    train(config, max_iterations=5)  # iter_2.pt, iter_4.pt; latest.pt at 5
    latest = tmp_path / "run" / "latest.pt"
    data = latest.read_bytes()
    latest.write_bytes(data[: len(data) // 3])  # cut short, as a full disk or a dying copy leaves it
    assert train(config, resume="auto")["iteration"] == 6
    out = capsys.readouterr().out
    assert "from iter_4.pt (iteration 4)" in out and "latest.pt → latest.pt.unreadable" in out
    assert (tmp_path / "run" / "latest.pt.unreadable").read_bytes() == data[: len(data) // 3]  # kept for a look
    _same_weights(tmp_path / "run" / "final.safetensors", straight)


def test_an_attempt_killed_before_its_first_checkpoint_starts_again(tmp_path, synth, straight, capsys):
    config = load_train_config(_config(tmp_path, synth))
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump(json.loads(json.dumps(_plain(config)))))
    (run / "log.jsonl").write_text('{"iteration": 1, "loss_total": 9.0}\n{"itera')  # cut by the kill
    assert train(config, resume="auto")["iteration"] == 6
    assert "left no readable checkpoint" in capsys.readouterr().out
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert records[0]["iteration"] == 2 and all(r.get("loss_total") != 9.0 for r in records)
    _same_weights(run / "final.safetensors", straight)


def _plain(config):
    from idrnet.config import to_dict

    return to_dict(config)


_HOLD = """
import sys, time
from pathlib import Path
from idrnet.engine.work_dir import WorkDirLock
lock = WorkDirLock(Path(sys.argv[1]))
if len(sys.argv) > 2:  # pretend the holder runs on another machine
    lock._file.seek(0); lock._file.truncate(); lock._file.write(f"process 7 on {sys.argv[2]}, since now"); lock._file.flush()
print("held", flush=True)
time.sleep(120)
"""


def _holder(work, *host):
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-c", _HOLD, str(work), *host], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_second_run_in_a_work_dir_in_use_is_refused_whatever_its_flags(tmp_path, synth, capsys):
    from runs import error_of

    config = _config(tmp_path, synth)
    work = tmp_path / "run"
    work.mkdir()
    holder = _holder(work)
    try:
        for flags in ([], ["--resume", "auto"], ["--overwrite"]):
            err = error_of(capsys, ["train", str(config), *flags])
            assert f"work_dir {work} is in use by another training run (process {holder.pid} on " in err, err
            assert "choose another --work-dir" in err
        assert sorted(p.name for p in work.iterdir()) == [".lock"]  # the refused runs wrote nothing
    finally:
        holder.kill()
        holder.wait()
    # the system dropped the killed holder's lock: no stale claim to remove by hand
    assert cli(["train", str(config), "--set", "iterations=2"]) == 0
    assert (work / "final.safetensors").is_file()


def test_a_lock_held_from_another_machine_is_waited_for_then_named(tmp_path, synth, capsys, monkeypatch):
    from idrnet.engine import work_dir

    monkeypatch.setattr(work_dir, "OTHER_HOST_WAIT_S", 1.5)
    work = tmp_path / "run"
    work.mkdir()
    holder = _holder(work, "node-17")
    try:
        with pytest.raises(ConfigError, match="in use by another training run .process 7 on node-17"):
            train(load_train_config(_config(tmp_path, synth)))
    finally:
        holder.kill()
        holder.wait()
    assert "is held by process 7 on node-17, since now; waiting up to 2 s" in capsys.readouterr().out


def test_two_trainers_of_one_process_share_the_claim(tmp_path, synth):
    """POSIX locks belong to the process: a second Trainer on the same work dir in one process (a notebook
    cell run again) claimed it too, and when the first was collected, closing its file dropped the lock of
    both, so another process could train in the folder beside the second. The claims share one file now."""
    import gc
    import subprocess
    import sys

    from idrnet.engine.trainer import Trainer

    config = load_train_config(_config(tmp_path, synth))
    first = Trainer(config, resume="auto")
    second = Trainer(config, resume="auto")  # the cell run again: same process, the first still referenced
    del first
    gc.collect()
    probe = "import sys; from pathlib import Path; from idrnet.engine.work_dir import WorkDirLock; WorkDirLock(Path(sys.argv[1]))"
    refused = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "run")], capture_output=True, text=True)
    assert refused.returncode != 0 and "in use by another training run" in refused.stderr
    assert second.run()["iteration"] == config.iterations
    free = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "run")], capture_output=True, text=True)
    assert free.returncode == 0, free.stderr  # released when the run ended
