"""CUDA paths (issue 28), run by ``benchmarks/gpu_run.sh`` on a lent GPU host; every test skips, with its
reason, where there is no CUDA device (``pytest -m cuda`` lists them). TF32 is switched off so that
fp32 on the GPU is compared with fp32 on the CPU, not with 10-bit mantissas."""

from __future__ import annotations

import os
import socket

import pytest
import torch

from idrnet import build_model, training_losses
from tiny import tiny_config

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this host")]


@pytest.fixture(autouse=True)
def _no_tf32():
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


def _images(batch: int = 2, size: int = 64, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _targets(batch: int = 2, size: int = 64, classes: int = 5, seed: int = 1) -> torch.Tensor:
    blocks = torch.randint(0, classes, (batch, 1, 8, 8), generator=torch.Generator().manual_seed(seed)).float()
    return torch.nn.functional.interpolate(blocks, size=(size, size))[:, 0].long()


@pytest.mark.parametrize("head", ["fcn", "idrnet"])
def test_eval_logits_on_cuda_equal_those_on_the_cpu(head):
    torch.manual_seed(0)
    model = build_model(tiny_config(head)).eval()
    x = _images()
    with torch.no_grad():
        cpu = model.forward_logits(x)
        gpu = model.cuda().forward_logits(x.cuda()).cpu()
    torch.testing.assert_close(gpu, cpu, rtol=1e-4, atol=1e-4)


def test_reference_parity_holds_on_cuda():
    """The reference's eval logits and training step (tests/fixtures/reference, recorded from
    SSSegmentation 1.7.0) against our model on the GPU."""
    from test_reference_parity import CASES, load_case

    for name in CASES:
        model, t = load_case(name)
        model = model.cuda().eval()
        with torch.no_grad():
            logits = model.forward_logits(t["images"].cuda()).cpu()
        torch.testing.assert_close(logits, t["eval_logits"], rtol=1e-3, atol=1e-4, msg=lambda m, n=name: f"{n}: {m}")
        model.train()
        losses = training_losses(model, t["images"].cuda(), t["targets"].cuda(),
                                 deleted_classes=t["deleted"].cuda() if "deleted" in t else None)
        torch.testing.assert_close(losses["total"].detach().cpu().reshape(1), t["loss_total"], rtol=1e-3, atol=1e-4,
                                   msg=lambda m, n=name: f"{n}: {m}")


def test_eval_logits_equal_the_installed_reference_on_cuda():
    """The reference itself on the GPU (pip install --no-deps sssegmentation==1.7.0), same weights, the
    official ADE20K DeepLabV3-IDRNet at 256² (its training step, which draws deletions from its own
    random stream, is compared through the fixtures above)."""
    pytest.importorskip("ssseg", reason="sssegmentation (the reference) is not installed on this host")
    import sys
    import tempfile
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_vs_reference import make_weights, ours_calls, reference_calls

    name = "idrnet_aspp_resnet50os8_ade20k"
    with tempfile.TemporaryDirectory() as folder:
        weights = Path(folder) / "w.pth"
        make_weights(name, weights)
        ours, _, ours_eval, _ = ours_calls(name, weights)
        reference, _, reference_eval, _ = reference_calls(name, weights)
    ours.cuda().eval()
    reference.cuda().eval()
    x = _images(1, 256).cuda()
    with torch.no_grad():
        torch.testing.assert_close(ours_eval(x).cpu(), reference_eval(x).cpu(), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("amp", ["fp16", "bf16"])
def test_amp_training_steps_are_finite_and_the_scaler_is_checkpointed(tmp_path, amp):
    import yaml

    from idrnet.data.synth import write_synthetic_dataset
    from idrnet.engine.config import load_train_config
    from idrnet.engine.trainer import train

    write_synthetic_dataset(tmp_path / "data", 8, 2, 64, seed=0, progress=False)
    config = tmp_path / "t.yaml"
    config.write_text(yaml.safe_dump({
        "model": {"num_classes": 11, "backbone": {"name": "resnet18v1c", "base_width": 8},
                  "head": {"type": "idrnet", "feats_channels": 32, "transform_channels": 16},
                  "auxiliary": {"channels": 32}},
        "data": {"root": str(tmp_path / "data"), "scale": [128, 64], "crop": [64, 64], "num_workers": 2},
        "iterations": 6, "batch_size": 4, "val_interval": 6, "checkpoint_interval": 3, "log_interval": 1,
        "work_dir": str(tmp_path / "run"), "device": "cuda", "amp": amp}))
    result = train(load_train_config(config))
    assert result["iteration"] == 6 and result["skipped_non_finite_steps"] == 0
    state = torch.load(tmp_path / "run" / "latest.pt", weights_only=True)
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.dtype.is_floating_point)
    if amp == "fp16":
        assert state["scaler"]["scale"] > 0  # the grad scaler ran and its state is in the checkpoint
    assert "cuda" in state["rng"]


def test_nccl_ddp_with_syncbatchnorm_in_a_one_process_group():
    """NCCL, torch's SyncBatchNorm and our DDP wrapper on one GPU (a group of one: one GPU cannot hold two
    NCCL ranks): the step equals the plain model's."""
    import torch.distributed as dist

    from idrnet.engine.ddp import wrap_ddp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("nccl", rank=0, world_size=1)
    try:
        torch.manual_seed(0)
        plain = build_model(tiny_config("idrnet", dropout=0.0)).cuda().train()
        synced = build_model(tiny_config("idrnet", dropout=0.0))
        synced.load_state_dict(plain.state_dict())
        synced = torch.nn.SyncBatchNorm.convert_sync_batchnorm(synced).cuda().train()
        assert any(isinstance(m, torch.nn.SyncBatchNorm) for m in synced.modules())
        ddp = wrap_ddp(synced, device_ids=[0])
        x, y = _images().cuda(), _targets().cuda()
        torch.manual_seed(1)
        a = training_losses(plain, x, y)["total"]
        torch.manual_seed(1)
        b = training_losses(ddp, x, y)["total"]
        a.backward()
        b.backward()
        torch.testing.assert_close(b.detach(), a.detach(), rtol=1e-4, atol=1e-5)
        grad_a = plain.backbone.stem[0].weight.grad if hasattr(plain.backbone, "stem") else next(plain.parameters()).grad
        grad_b = synced.backbone.stem[0].weight.grad if hasattr(synced.backbone, "stem") else next(synced.parameters()).grad
        torch.testing.assert_close(grad_b, grad_a, rtol=1e-3, atol=1e-5)
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_compiled_cuda_inference_agrees_with_eager(precision):
    from idrnet.deploy.runtime import accelerate

    torch.manual_seed(0)
    model = build_model(tiny_config("idrnet")).eval().cuda()
    x = _images().cuda()
    with torch.no_grad():
        eager = model.forward_logits(x).float()
        runtime = accelerate(model, precision if precision != "fp16" else "fp32", "compile", device="cuda")
        if precision == "fp16":  # no fp16 precision setting: autocast, as a user would
            with torch.autocast("cuda", dtype=torch.float16):
                compiled = runtime.forward_logits(x).float()
        else:
            compiled = runtime.forward_logits(x).float()
    assert runtime.backend == "compile", "compilation fell back to eager"
    tolerance = {"fp32": 1e-3, "bf16": 0.1, "fp16": 0.05}[precision]
    assert (compiled - eager).abs().max().item() < tolerance * eager.abs().max().item() + 1e-3
    assert (compiled.argmax(1) == eager.argmax(1)).float().mean() > 0.95


def test_the_serving_arm_runs_on_cuda():
    import io

    import numpy as np
    from fastapi.testclient import TestClient
    from PIL import Image

    from idrnet.apis.predictor import Predictor
    from idrnet.serving.app import create_app
    from idrnet.serving.arm import Arm
    from idrnet.serving.options import ServeOptions

    torch.manual_seed(0)
    model = build_model(tiny_config("idrnet")).eval()
    arm = Arm("A", "idrnet-tiny", Predictor(model, device="cuda"), "eager")
    assert next(arm.predictor.model.parameters()).device.type == "cuda"
    image = (np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    with TestClient(create_app([arm], ServeOptions())) as client:
        for _ in range(300):
            if client.get("/health/ready").status_code == 200:
                break
        response = client.post("/v1/segment", content=buffer.getvalue(), headers={"Content-Type": "image/png"})
    assert response.status_code == 200, response.text
    labels = np.asarray(Image.open(io.BytesIO(response.content)))
    expected = Predictor(model.cpu(), device="cpu").predict(image)
    assert labels.shape == image.shape[:2] and (labels == np.asarray(expected)).mean() > 0.99


def test_onnxruntime_cuda_provider(tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip(f"this onnxruntime has no CUDA provider ({', '.join(ort.get_available_providers())}); "
                    "onnxruntime-gpu is not installed")
    from idrnet.deploy.export import export_onnx
    from idrnet.deploy.onnx_model import OnnxSegmentor

    torch.manual_seed(0)
    model = build_model(tiny_config("idrnet")).eval()
    path = export_onnx(model, tmp_path / "m.onnx", example_size=(64, 64))
    onnx_model = OnnxSegmentor(path, device="cuda")
    assert onnx_model.session.get_providers()[0] == "CUDAExecutionProvider"
    x = _images()
    with torch.no_grad():
        torch.testing.assert_close(onnx_model(x.cuda()).cpu(), model(x), rtol=1e-3, atol=1e-3)


def test_idrnet_attaches_to_a_model_already_on_the_gpu():
    """attach(model.cuda(), …) probed with a CPU image and left the head on the CPU (test_dropin checks the
    same with the meta device); here it trains a step on the GPU."""
    import idrnet

    class Net(torch.nn.Module):  # test_dropin's TinyNet, without that module's SMP import
        def __init__(self) -> None:
            super().__init__()
            self.body = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, 4, 1), torch.nn.ReLU())
            self.head = torch.nn.Sequential(torch.nn.Conv2d(16, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(16, 4, 1))

        def forward(self, x):
            return torch.nn.functional.interpolate(self.head(self.body(x)), size=x.shape[2:], mode="bilinear")

    model = idrnet.attach(Net().cuda(), 4, feats_channels=16, transform_channels=8).train()
    assert {t.device.type for t in (*model.parameters(), *model.buffers())} == {"cuda"}
    losses = training_losses(model, _images(size=32).cuda(), _targets(size=32, classes=4).cuda())
    losses["total"].backward()
    assert torch.isfinite(losses["total"])


def test_a_model_on_the_gpu_exports_and_stays_there(tmp_path):
    """export_onnx(model_on_the_gpu) traced it with a CPU example (a device-mismatch error): the model is
    exported and checked on the CPU, and is back on the GPU afterwards."""
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    from idrnet.deploy.export import export_onnx

    torch.manual_seed(0)
    model = build_model(tiny_config("idrnet")).cuda()
    path = export_onnx(model, tmp_path / "m.onnx", example_size=(64, 64), check_sizes=[(64, 96)])
    assert path.is_file() and {t.device.type for t in (*model.parameters(), *model.buffers())} == {"cuda"}


def test_a_predictor_of_a_model_on_the_gpu_leaves_it_there():
    """Predictor(model) defaulted to the CPU and moved the caller's model there (the same module): the next
    training step on the GPU failed with a device mismatch. A built model is used where it is."""
    import numpy as np

    from idrnet import Predictor

    model = build_model(tiny_config("idrnet")).cuda()
    predictor = Predictor(model)
    assert predictor.device.type == "cuda" and next(model.parameters()).is_cuda
    assert predictor.predict(np.zeros((40, 56, 3), np.uint8)).shape == (40, 56)
