"""IDRNet attached to models a team already has: SMP, torchvision and a hand-written network."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn as nn

import idrnet
from idrnet.dropin import AttachedModel

smp = pytest.importorskip("segmentation_models_pytorch")
tv = pytest.importorskip("torchvision.models.segmentation")

SMALL = {"feats_channels": 16, "transform_channels": 8}
SMP_ARCHS = ["Unet", "UnetPlusPlus", "FPN", "PSPNet", "DeepLabV3", "DeepLabV3Plus", "Linknet", "MAnet", "PAN",
             "UPerNet", "Segformer"]
TV_MODELS = ["fcn_resnet50", "deeplabv3_resnet50", "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large"]


def smp_model(arch: str, k: int = 5) -> nn.Module:
    return getattr(smp, arch)(encoder_name="resnet18", encoder_weights=None, classes=k)


def tv_model(name: str, k: int = 5) -> nn.Module:
    options = {} if name.startswith("lraspp") else {"aux_loss": True}
    return getattr(tv, name)(weights=None, weights_backbone=None, num_classes=k, **options)


def _main(output):
    if isinstance(output, tuple):  # SMP with aux_params: (masks, labels)
        return output[0]
    return output["out"] if isinstance(output, dict) else output


def check_attached(make, size: int = 64) -> AttachedModel:
    torch.manual_seed(0)
    original = make()
    original.eval()
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        reference = original(x)
    params_before = {id(p) for p in original.parameters()}
    model = idrnet.attach(original, 5, **SMALL)
    # the user's modules are reused, not copied; only the replaced classifier may be gone
    assert model.model is original
    kept = {id(p) for p in model.parameters()} & params_before
    assert len(kept) >= len(params_before) - 2
    model.eval()
    with torch.no_grad():
        out = model(x)
    assert type(out) is type(reference) and _main(out).shape == _main(reference).shape == (2, 5, size, size)
    # odd sizes go through forward_scores (padded inside where the encoder needs it)
    with torch.no_grad():
        assert model.forward_scores(torch.randn(1, 3, size + 3, size + 5)).shape == (1, 5, size + 3, size + 5)
    model.train()
    targets = torch.randint(0, 5, (2, size, size))
    before = model.decode_head.class_relations_mean.clone()
    losses = idrnet.training_losses(model, x, targets, deleted_classes=torch.tensor([1, 3]))
    assert {"main", "stage1", "total"} <= set(losses) and torch.isfinite(losses["total"])
    losses["total"].backward()
    assert all(p.grad is not None for p in model.decode_head.parameters() if p.requires_grad)
    moved = ~torch.isclose(before, model.decode_head.class_relations_mean)
    assert moved[1].any() and moved[3].any() and not moved[[0, 2, 4]].any()
    # state-dict round trip into a fresh attachment
    torch.manual_seed(1)
    twin = idrnet.attach(make(), 5, **SMALL)
    twin.load_state_dict(model.state_dict())
    model.eval(), twin.eval()
    with torch.no_grad():
        torch.testing.assert_close(model.forward_scores(x), twin.forward_scores(x))
    return model


@pytest.mark.parametrize("arch", SMP_ARCHS)
def test_every_smp_architecture(arch):
    model = check_attached(lambda: smp_model(arch), size=128 if arch == "PAN" else 64)
    assert model.config.classifier == "segmentation_head.0"


@pytest.mark.parametrize("arch", SMP_ARCHS)
def test_smp_aux_params_models_train_and_predict_with_their_classification_head_untouched(arch):
    def make():
        return getattr(smp, arch)(encoder_name="resnet18", encoder_weights=None, classes=5,
                                  aux_params={"classes": 3, "dropout": 0.2})

    size = 128 if arch == "PAN" else 64
    check_attached(make, size=size)  # tuple kept; training_losses, forward_scores and reloading work
    torch.manual_seed(0)
    plain = make().eval()
    torch.manual_seed(0)
    model = idrnet.attach(make(), 5, **SMALL).eval()
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        masks, labels = model(x)
        torch.testing.assert_close(labels, plain(x)[1], rtol=0, atol=0)
    assert masks.shape[1] == 5 and labels.shape == (2, 3)


def test_dpt_attaches_by_default_and_pads_to_its_fixed_input_size():
    from idrnet.errors import InputError

    torch.manual_seed(0)
    make = lambda: smp.DPT(encoder_name="tu-vit_tiny_patch16_224", encoder_weights=None, classes=5)  # noqa: E731
    model = idrnet.attach(make(), 5, **SMALL)
    assert model.config.classifier == "segmentation_head.head.4" and model.config.input_size == (224, 224)
    model.eval()
    with torch.no_grad():
        assert model.forward_scores(torch.randn(1, 3, 163, 171)).shape == (1, 5, 163, 171)
        with pytest.raises(InputError, match="224×224 inputs only"):
            model.forward_scores(torch.randn(1, 3, 240, 224))
    model.train()
    x, targets = torch.randn(2, 3, 224, 224), torch.randint(0, 5, (2, 224, 224))
    losses = idrnet.training_losses(model, x, targets)
    assert torch.isfinite(losses["total"])
    flexible = idrnet.attach(smp.DPT(encoder_name="tu-vit_tiny_patch16_224", encoder_weights=None, classes=5,
                                     dynamic_img_size=True), 5, **SMALL).eval()
    assert flexible.config.input_size is None
    with torch.no_grad():
        assert flexible.forward_scores(torch.randn(1, 3, 163, 171)).shape == (1, 5, 163, 171)


@pytest.mark.parametrize("name", TV_MODELS)
def test_torchvision_models_keep_their_aux_output(name):
    model = check_attached(lambda: tv_model(name))
    model.train()
    losses = idrnet.training_losses(model, torch.randn(2, 3, 64, 64), torch.randint(0, 5, (2, 64, 64)))
    assert ("aux" in losses) == (not name.startswith("lraspp"))


def test_full_resolution_taps_run_idrnet_at_the_configured_stride():
    unet = idrnet.attach(smp_model("Unet"), 5, **SMALL)  # decoder output at 1/1
    assert unet.idrnet_classifier.pool == 8 and unet.idrnet_classifier.original is not None
    coarse = idrnet.attach(smp_model("Unet"), 5, stride=4, **SMALL)
    assert coarse.idrnet_classifier.pool == 4
    deeplab = idrnet.attach(tv_model("deeplabv3_mobilenet_v3_large"), 5, **SMALL)  # ASPP output at 1/16
    assert deeplab.idrnet_classifier.pool == 1 and deeplab.idrnet_classifier.original is None


class TinyNet(nn.Module):
    """A hand-written network: a body at 1/4 and a two-layer head."""

    def __init__(self, k: int = 4) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU())
        self.head = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, k, 1))

    def forward(self, x):
        return nn.functional.interpolate(self.head(self.body(x)), size=x.shape[2:], mode="bilinear")


def test_generic_path_on_a_hand_written_network():
    model = idrnet.attach(TinyNet(), 4, **SMALL)  # the last 4-channel Conv2d is found
    assert model.config.classifier == "head.2"
    model.train()
    losses = idrnet.training_losses(model, torch.randn(2, 3, 32, 32), torch.randint(0, 4, (2, 32, 32)))
    losses["total"].backward()
    tapped = idrnet.attach(TinyNet(), 4, features="body", classifier="head.2", **SMALL)
    assert tapped.decode_head.bottleneck[0].in_channels == 16
    with torch.no_grad():
        assert tapped.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 4, 32, 32)


def test_a_model_already_on_its_device_or_in_its_dtype_gets_idrnet_there():
    """attach(model.cuda(), …) probed the model with a CPU image ("Input type (torch.FloatTensor) and weight
    type (torch.cuda.FloatTensor) should be the same") and would have left the new head on the CPU. A model on
    the meta device stands in for the GPU here (tests/test_cuda.py attaches on one); a bfloat16 model gets a
    bfloat16 head and runs."""
    for model in (TinyNet(), tv_model("deeplabv3_mobilenet_v3_large", k=21)):  # the generic path, and a replaced classifier
        attached = idrnet.attach(model.to("meta"), 4, **SMALL)
        assert {t.device.type for t in (*attached.parameters(), *attached.buffers())} == {"meta"}
    halved = idrnet.attach(TinyNet().to(torch.bfloat16), 4, **SMALL)
    assert {t.dtype for t in halved.parameters()} == {torch.bfloat16}
    with torch.no_grad():
        assert halved.eval()(torch.randn(1, 3, 32, 32, dtype=torch.bfloat16)).dtype == torch.bfloat16


def test_wrong_names_are_clear_errors():
    with pytest.raises(ValueError, match=r"'head\.3' is not a submodule.*closest names: head\.2"):
        idrnet.attach(TinyNet(), 4, classifier="head.3")
    with pytest.raises(ValueError, match="no Conv2d with 7 output channels.*head.2"):
        idrnet.attach(TinyNet(), 7)
    from idrnet.config import ConfigError

    with pytest.raises(ConfigError, match="attach: strid"):
        idrnet.attach(TinyNet(), 4, strid=4)
    model = idrnet.attach(TinyNet(), 4)
    with pytest.raises(ValueError, match="already attached"):
        idrnet.attach(model.model, 4)

    # A classifier path naming something whose output is not the class scores (an activation, the body)
    # attached without a word and failed at the first forward; the model is left as it was.
    for path, kind in (("head.1", "ReLU"), ("body", "Sequential")):
        net = TinyNet()
        before = {k: v.clone() for k, v in net.state_dict().items()}
        with pytest.raises(ValueError, match=rf"IDRNet in place of {path} \({kind}\) the model fails .*must be the "
                                             r"module whose output is the class scores.*head\.2 gives 4 channels"):
            idrnet.attach(net, 4, classifier=path)
        assert type(net.get_submodule(path)).__name__ == kind and net.state_dict().keys() == before.keys()
        assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    with pytest.raises(ValueError, match=r"got the class TinyNet: build it first"):
        idrnet.attach(TinyNet, 4)
    with pytest.raises(ValueError, match=r"takes a torch.nn.Module; got str"):
        idrnet.attach("unet", 4)


def test_the_usual_drop_in_mistakes_are_refused_before_they_train_nothing():
    """A binary SMP model (classes=1, sigmoid) attached as one class trains nothing (cross-entropy over one
    class is 0); num_classes unlike the classifier's outputs is a typo; a mask passed through ToTensor
    is divided by 255 and truncates to class 0 everywhere."""
    with pytest.raises(ValueError, match=r"num_classes=1.*at least 2 classes.*num_classes=2.*labels 0 and 1"):
        idrnet.attach(TinyNet(k=1), 1)
    with pytest.raises(ValueError, match="num_classes=0"):
        idrnet.attach(TinyNet(), 0)
    with pytest.raises(ValueError, match=r"classifier head\.2 has 4 output channels but num_classes is 5.*added"):
        idrnet.attach(TinyNet(), 5, classifier="head.2")  # at 1/4, IDRNet at 1/8: both logits are summed
    # where IDRNet replaces the classifier, a pretrained model of other classes takes IDRNet for new ones
    new_classes = idrnet.attach(TinyNet(k=21), 5, classifier="head.2", **{**SMALL, "stride": 4})
    with torch.no_grad():
        assert new_classes.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 5, 32, 32)
    # torchvision's pretrained DeepLabV3 (21 VOC classes, auxiliary head) for 30 classes: its auxiliary loss
    # failed on the first label above 20 ("target class 27 is out of range for 21 classes")
    voc = tv_model("deeplabv3_mobilenet_v3_large", k=21)
    kept = voc.aux_classifier[0].weight.clone()
    attached = idrnet.attach(voc, 30, **SMALL).train()
    assert voc.aux_classifier[-1].out_channels == 30 and torch.equal(voc.aux_classifier[0].weight, kept)
    losses = idrnet.training_losses(attached, torch.randn(2, 3, 64, 64), torch.full((2, 64, 64), 27))
    assert torch.isfinite(losses["aux"]) and losses["aux"] > 0
    lraspp = tv_model("lraspp_mobilenet_v3_large", k=11)  # two classifiers summed: replacing one cannot change the classes
    with pytest.raises(ValueError, match="another part of it still gives 11 class outputs"):
        idrnet.attach(lraspp, 5, **SMALL)
    assert isinstance(lraspp.classifier.high_classifier, nn.Conv2d)  # left as it was
    model = idrnet.attach(TinyNet(), 4, **SMALL).train()
    images, masks = torch.randn(2, 3, 32, 32), torch.randint(0, 4, (2, 32, 32))
    with pytest.raises(ValueError, match=r"fractional values.*ToTensor.*divided by 255"):
        idrnet.training_losses(model, images, masks.float() / 255)
    whole = idrnet.training_losses(model, images, masks.float())["total"]  # integral floats are class indices
    assert torch.isfinite(whole) and whole > 0
    # (B, 1, H, W) masks, as torchvision's transforms give them, are taken; one-hot masks, byte images and a
    # batch of other length are named (they failed inside the model or the loss, or as a bare shape error)
    torch.manual_seed(0)
    channel = idrnet.training_losses(model, images, masks[:, None])["total"]
    assert torch.isfinite(channel) and channel > 0
    with pytest.raises(ValueError, match=r"look one-hot.*targets.argmax\(1\)"):
        idrnet.training_losses(model, images, nn.functional.one_hot(masks, 4).permute(0, 3, 1, 2).float())
    with pytest.raises(ValueError, match=r"images are uint8.*images.float\(\) / 255"):
        idrnet.training_losses(model, (images * 40 + 128).clamp(0, 255).to(torch.uint8), masks)
    with pytest.raises(ValueError, match=r"targets must be \(B, H, W\) matching images \(2, 3, 32, 32\), got \(1, 32, 32\)"):
        idrnet.training_losses(model, images, masks[:1])
    with pytest.raises(ValueError, match=r"targets: expected a tensor \(\(B, H, W\) class indices\), got NoneType"):
        idrnet.training_losses(model, images, None)  # was "'NoneType' object has no attribute 'dim'"
    with pytest.raises(ValueError, match=r"TinyNet is not an idrnet model.*idrnet.attach\(model, num_classes\)"):
        idrnet.training_losses(TinyNet(), images, masks)  # the attach line forgotten: was "no attribute 'forward_train'"


# An attached SMP U-Net is exported and checked at two sizes by test_smp_config_lines_train_and_every_verb_takes_them.
@pytest.mark.parametrize("make", [lambda: tv_model("lraspp_mobilenet_v3_large")], ids=["tv_lraspp"])
def test_attached_models_export_with_dynamic_sizes(make, tmp_path):
    from idrnet.deploy.export import agrees, output_agreement
    from idrnet.deploy.onnx_model import OnnxSegmentor

    torch.manual_seed(0)
    model = idrnet.attach(make(), 5, **SMALL).eval()
    with torch.no_grad():  # statistics away from their initial values, so the relation path matters
        model.decode_head.class_relations_mean.add_(torch.rand(5, 5))
        model.decode_head.dl_cls_representations.normal_()
    runner = OnnxSegmentor(idrnet.export_onnx(model, tmp_path / "m.onnx", (64, 64)))
    assert runner.num_classes == 5
    for shape in [(1, 3, 64, 64), (2, 3, 96, 128), (1, 3, 70, 90)]:
        x = torch.randn(*shape)
        with torch.no_grad():
            expected = model.forward_scores(x)
        assert agrees(output_agreement(expected, runner(x))), shape


@pytest.mark.parametrize("arch", ["PSPNet", "UPerNet"])
def test_a_model_right_only_at_its_export_size_is_refused_dynamic_and_exports_fixed(arch, tmp_path):
    """Adaptive pooling to sizes that are not factors of the features bakes the export size into the
    graph: ONNX Runtime fails (PSPNet) or is silently wrong (UPerNet) at other sizes."""
    from idrnet.deploy.export import agrees, output_agreement
    from idrnet.deploy.onnx_model import OnnxSegmentor
    from idrnet.errors import InputError

    torch.manual_seed(0)
    model = idrnet.attach(smp_model(arch), 5, **SMALL).eval()
    with pytest.raises(InputError, match="fixed_size=True") as refused:
        idrnet.export_onnx(model, tmp_path / "m.onnx", (64, 64))
    assert "not written" in str(refused.value) and not list(tmp_path.iterdir())
    runner = OnnxSegmentor(idrnet.export_onnx(model, tmp_path / "m.onnx", (64, 64), fixed_size=True))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert agrees(output_agreement(model.forward_scores(x), runner(x)))
    with pytest.raises(InputError, match="64x64 inputs only"):
        runner(torch.randn(1, 3, 96, 96))


# ------------------------------------------------------------------------------- config lines
def _config(tmp_path, data, model: dict, name: str) -> Path:
    import yaml

    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "model": model, "data": {"root": str(data), "scale": [64, 64], "crop": [64, 64], "num_workers": 0},
        "iterations": 2, "batch_size": 4, "val_interval": 2, "checkpoint_interval": 2, "device": "cpu",
        "work_dir": str(tmp_path / "runs" / name),
    }))
    return path


@pytest.fixture(scope="module")
def synth64(tmp_path_factory):
    from idrnet.data.synth import write_synthetic_dataset

    return write_synthetic_dataset(tmp_path_factory.mktemp("dropin") / "data", 4, 2, 64, seed=0, progress=False)


def test_smp_config_lines_train_and_every_verb_takes_them(tmp_path, synth64, capsys):
    import json

    from idrnet.cli.main import main as cli
    from idrnet.models.checkpoint import EXTERNAL_METADATA_KEY, read_metadata

    line = {"type": "smp", "arch": "Unet", "encoder_name": "resnet18", "encoder_weights": None, "num_classes": 11,
            "attach": SMALL}
    idr = _config(tmp_path, synth64, {**line, "idrnet": True}, "idr")
    base = _config(tmp_path, synth64, {**line, "idrnet": False}, "base")
    assert cli(["train", str(idr)]) == 0 and cli(["train", str(base)]) == 0
    final_idr, final_base = tmp_path / "runs/idr/final.safetensors", tmp_path / "runs/base/final.safetensors"
    record = json.loads(read_metadata(final_idr)[EXTERNAL_METADATA_KEY])
    assert record["library"] == "segmentation_models_pytorch" and record["version"] == smp.__version__
    assert record["config"]["arch"] == "Unet" and record["config"]["idrnet"] is True
    model = idrnet.create_model(str(final_idr))
    assert isinstance(model, AttachedModel) and not torch.equal(
        model.decode_head.class_relations_mean, torch.eye(11))  # statistics restored from the checkpoint
    assert cli(["test", str(idr), "--checkpoint", str(final_idr), "--out", str(tmp_path / "r.json")]) == 0
    assert cli(["predict", str(synth64 / "images" / "val"), "--model", str(final_idr), "--out", str(tmp_path / "p")]) == 0
    assert cli(["compare", str(final_base), str(final_idr), "--data", str(idr), "--out", str(tmp_path / "c"),
                "--resamples", "20", "--gallery", "1"]) == 0
    assert cli(["relations", str(final_idr), "--out", str(tmp_path / "rel")]) == 0
    assert cli(["export", str(final_idr), str(tmp_path / "m.onnx"), "--check-sizes", "64x64", "70x90"]) == 0
    assert cli(["bench", str(idr), "--size", "64x64", "--runs", "1", "--warmup", "0", "--vs-baseline"]) == 0
    assert "IDRNet / baseline" in capsys.readouterr().out


def test_torchvision_config_line_trains_and_reloads(tmp_path, synth64):
    from idrnet.engine.config import load_train_config
    from idrnet.engine.trainer import train

    path = _config(tmp_path, synth64, {"type": "torchvision", "name": "lraspp_mobilenet_v3_large", "num_classes": 11,
                                       "attach": SMALL}, "tv")
    assert train(load_train_config(path))["iteration"] == 2
    model = idrnet.create_model(str(tmp_path / "runs/tv/final.safetensors")).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64))["out"].shape == (1, 11, 64, 64)


def test_config_line_errors_name_the_key():
    from idrnet.config import ConfigError, from_dict
    from idrnet.engine.config import TrainConfig

    def model_error(model):
        with pytest.raises(ConfigError) as info:
            from_dict(TrainConfig, {"model": model, "data": {"root": "x"}}, where="c.yaml")
        return str(info.value)

    assert "model.type: expected 'smp' or 'torchvision'" in model_error({"type": "smpp", "num_classes": 3})
    assert "model.arch: missing" in model_error({"type": "smp", "num_classes": 3})
    from idrnet.dropin import TorchvisionModelConfig, build_external

    with pytest.raises(ConfigError, match="model.name: 'deeplab' is not a torchvision segmentation model.*deeplabv3_resnet50"):
        build_external(TorchvisionModelConfig(num_classes=3, name="deeplab"))


def _user_loop_worker(rank: int, world: int, init_file: str, out: str) -> None:
    import os

    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    torch.set_num_threads(1)
    torch.manual_seed(0)  # same initial weights on every process
    model = idrnet.attach(TinyNet(), 4, **SMALL).train()
    ddp = idrnet.wrap_ddp(model)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=0.1)
    torch.manual_seed(100 + rank)  # different data per process
    for _ in range(2):
        loss = idrnet.training_losses(ddp, torch.randn(2, 3, 32, 32), torch.randint(0, 4, (2, 32, 32)))["total"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    torch.save({k: v.clone() for k, v in model.state_dict().items()}, f"{out}/rank{rank}.pt")
    torch.distributed.destroy_process_group()


def test_wrap_ddp_in_a_users_own_loop(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_user_loop_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    a, b = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2))
    for key in a:  # gradients and IDRNet's statistics are the same on both processes
        if "running_" in key or "num_batches" in key:
            continue  # BatchNorm statistics are per process (no SyncBatchNorm in this loop)
        torch.testing.assert_close(a[key], b[key], msg=key)
    assert not torch.equal(a["model.head.2.head.class_relations_mean"], torch.eye(4))


def test_attached_model_trains_under_bf16_autocast():
    model = idrnet.attach(smp_model("FPN"), 5, **SMALL).train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = idrnet.training_losses(model, torch.randn(2, 3, 64, 64), torch.randint(0, 5, (2, 64, 64)))["total"]
    loss.backward()
    assert torch.isfinite(loss) and loss.dtype == torch.float32
