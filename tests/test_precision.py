"""Precision × backend: every path runs a tiny model and stays within its stated tolerance of fp32;
int8 calibration is reproducible; refusals and missing extras are one clear line."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from idrnet.apis.calibration import calibration_files
from idrnet.deploy.calibration import random_batches
from idrnet.deploy.export import output_agreement
from idrnet.deploy.runtime import TOLERANCES, accelerate, resolve_backend
from idrnet.errors import InputError
from idrnet.models.build import build_model
from test_export import SCRIPTED  # every head, and IDRNet on HRNet and Swin
from tiny import tiny_config

PATHS = [("fp32", "compile"), ("bf16", "eager"), ("bf16", "compile"), ("int8", "compile"),
         ("fp32", "onnxruntime"), ("int8", "onnxruntime"), ("fp32", "openvino"), ("bf16", "openvino"),
         ("int8", "openvino")]


@pytest.fixture(scope="module")
def model_and_reference():
    torch.manual_seed(0)
    model = build_model(tiny_config()).eval()  # IDRNet-FCN: relations and attention, the smallest graph to compile
    # BatchNorm statistics of real activations (random init leaves them at 0/1, which makes int8 ranges trivial)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.cat(random_batches(4, (64, 64), seed=1)))
    model.eval()
    images = torch.randn(2, 3, 64, 80, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        reference = model(images)
    return model, images, reference


@pytest.fixture(scope="module")
def exported(model_and_reference, tmp_path_factory):
    """The tiny model as an fp32 ONNX file (an export takes ~10 s: shared by the tests that only read it)."""
    from idrnet.deploy.export import export_onnx

    return export_onnx(model_and_reference[0], tmp_path_factory.mktemp("exported") / "fp32.onnx", (64, 64))


@pytest.mark.parametrize("precision,backend", PATHS, ids=[f"{p}-{b}" for p, b in PATHS])
def test_every_path_agrees_with_fp32(model_and_reference, precision, backend):
    model, images, reference = model_and_reference
    runner = accelerate(model, precision, backend, random_batches(4, (64, 64), seed=3))
    assert runner.precision == precision and runner.backend == backend
    with torch.no_grad():
        logits = runner(images)
        # Another batch and size (no shape baked into the graph), as probabilities; one call, as each new
        # shape costs the compiled paths a compilation.
        scores = runner.forward_scores(images[:1, :, :48, :56], probs_before_resize=True)
    assert logits.dtype == torch.float32 and logits.shape == reference.shape
    stats = output_agreement(reference, logits)
    limits = TOLERANCES[precision]
    assert stats["norm_relative"] <= limits["norm_relative"] and stats["same_label"] >= limits["same_label"], stats
    assert scores.shape == (1, reference.shape[1], 48, 56)
    # probabilities sum to one (to bf16's resolution where the softmax itself ran in bf16)
    torch.testing.assert_close(scores.sum(1), torch.ones_like(scores[:, 0]), atol=1e-2 if precision == "bf16" else 1e-4, rtol=0)
    if (precision, backend) == ("bf16", "openvino"):  # OpenVINO runs bf16 where the CPU offers it, else fp32
        from idrnet.deploy.openvino_model import cpu_capabilities

        assert runner.effective_precision == ("bf16" if "BF16" in cpu_capabilities() else "fp32")
    if precision != "fp32" and getattr(runner, "effective_precision", precision) != "fp32":
        assert stats["norm_relative"] > 0  # the reduced precision really ran
    if (precision, backend) == ("int8", "compile"):
        # The exported graph guards sides of 32 to 8192 pixels: a thinner strip is padded (it used to fail
        # the guard, an internal error), a longer side is a clear error.
        with torch.no_grad():
            assert runner(images[:1, :, :1, :40]).shape == (1, reference.shape[1], 1, 40)
        with pytest.raises(InputError, match="at most 8192 pixels"):
            runner(torch.zeros(1, 3, 32, 8200))
    if backend == "compile" and precision == "fp32":  # compiling left the module itself eager and unchanged
        with torch.no_grad():
            assert torch.equal(model(images), reference)


def test_failed_compile_falls_back_to_eager(model_and_reference):
    model, images, reference = model_and_reference
    runner = accelerate(model, "fp32", "compile")

    class CompilerFailure(RuntimeError):
        pass

    CompilerFailure.__module__ = "torch._inductor.exc"  # how the compiler's own errors identify themselves

    def broken(*args, **kwargs):
        raise CompilerFailure("no C++ compiler")

    runner._compiled = {name: broken for name in runner._compiled}
    with pytest.warns(RuntimeWarning, match="torch.compile failed, running eager"):
        with torch.no_grad():
            out = runner(images)
    assert torch.equal(out, reference) and runner.backend == "eager" and "no C++ compiler" in runner.fallback_reason


def test_model_errors_are_not_swallowed_by_the_fallback(model_and_reference):
    model, _, _ = model_and_reference
    runner = accelerate(model, "fp32", "compile")
    with pytest.raises(RuntimeError), torch.no_grad():
        runner(torch.randn(1, 4, 64, 64))  # 4 channels: the model's own error, not the compiler's
    assert runner.backend == "compile"


def test_bf16_without_bf16_instructions_warns(model_and_reference, monkeypatch):
    import warnings

    from idrnet.deploy import runtime

    model, _, _ = model_and_reference
    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: False)
    with pytest.warns(RuntimeWarning, match="no bf16 instructions.*use precision=fp32"):
        accelerate(model, "bf16", "eager")
    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        accelerate(model, "bf16", "eager")


def test_bf16_check_asks_for_native_instructions(monkeypatch):
    """Plain AVX-512 passes oneDNN's bf16 check but emulates bf16: only AVX512-BF16 or AMX count."""
    from idrnet.deploy.runtime import cpu_has_bf16

    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True, raising=False)
    for avx512_bf16, amx, expected in ((False, False, False), (True, False, True), (False, True, True)):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda v=avx512_bf16: v, raising=False)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda v=amx: v, raising=False)
        assert cpu_has_bf16() is expected


def test_automatic_backend(monkeypatch):
    monkeypatch.delenv("IDRNET_BACKEND", raising=False)
    assert resolve_backend("fp32", "auto", "cpu") == "compile"  # the fastest exact path by default
    assert resolve_backend("fp32", None, "cuda") == "eager"
    from idrnet.deploy import runtime

    assert resolve_backend("int8", "auto", "cpu") == "openvino"  # most accurate measured int8 path
    monkeypatch.setattr(runtime, "_installed", lambda module: module not in ("openvino", "onnxruntime"))
    assert resolve_backend("int8", "auto", "cpu") == "compile"  # the next installed one
    monkeypatch.setenv("IDRNET_BACKEND", "eager")
    assert resolve_backend("fp32", "auto", "cpu") == "eager"
    assert resolve_backend("int8", "auto", "cpu") == "compile"  # eager cannot run int8


@pytest.mark.parametrize("precision,backend,message", [
    ("int8", "eager", r"precision int8 does not run on backend eager \(eager PyTorch would only simulate int8 arithmetic in fp32\); use compile, onnxruntime, openvino"),
    ("bf16", "onnxruntime", "no bf16"),
    ("fp16", "eager", "unknown precision 'fp16'"),
    ("fp32", "tensorrt", "unknown backend 'tensorrt'"),
])
def test_refused_combinations_say_why(precision, backend, message):
    with pytest.raises(ValueError, match=message):
        resolve_backend(precision, backend, "cpu")


def test_int8_needs_calibration(model_and_reference):
    model, _, _ = model_and_reference
    with pytest.raises(ValueError, match="needs calibration images"):
        accelerate(model, "int8", "onnxruntime")


def _image_folder(root, count=6, size=(40, 48)):
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(root / f"img_{i}.png")
    return root


def test_calibration_draw_is_reproducible(tmp_path):
    folder = _image_folder(tmp_path / "photos", count=10)
    first = calibration_files(folder, 4, seed=0)
    assert first == calibration_files(folder, 4, seed=0) and len(first) == 4
    assert first != calibration_files(folder, 4, seed=1)
    assert len(calibration_files(folder, 50)) == 10  # fewer images than asked: all of them
    with pytest.raises(FileNotFoundError, match="no images found"):
        calibration_files(_empty(tmp_path), 4)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        calibration_files(tmp_path / "missing", 4)
    with pytest.raises(ValueError, match="expected a folder of images or a training YAML"):
        calibration_files(first[0], 4)
    with pytest.raises(ValueError, match="calibration_images=0"):
        calibration_files(folder, 0)


def test_an_unreadable_calibration_image_is_left_out(tmp_path, capsys):
    """A truncated photo among the calibration images stopped `export --precision int8` (and every verb that
    calibrates): calibration is a sample, so it is left out and named; none readable is an error."""
    from idrnet.deploy.calibration import calibration_batches
    from idrnet.errors import InputError

    folder = _image_folder(tmp_path / "photos", count=3)
    good = sorted(folder.iterdir())
    cut = folder / "cut.png"
    cut.write_bytes(good[0].read_bytes()[:60])
    batches = calibration_batches([*good, cut], lambda rgb: rgb)
    assert len(batches) == 3
    assert f"note: 1 of 4 calibration image(s) could not be read and were left out (first: {cut}" in capsys.readouterr().err
    with pytest.raises(InputError, match="none of the 1 calibration image"):
        calibration_batches([cut], lambda rgb: rgb)


def _empty(tmp_path):
    (tmp_path / "empty").mkdir(exist_ok=True)
    return tmp_path / "empty"


def test_int8_calibration_is_deterministic(tmp_path, model_and_reference, exported):
    """The same folder, count and seed give the same images and byte-identical int8 files."""
    from idrnet import Predictor
    from idrnet.deploy.calibration import calibration_batches
    from idrnet.deploy.int8 import quantize_onnx

    model, _, _ = model_and_reference
    folder = _image_folder(tmp_path / "photos", count=8)
    preprocess = Predictor(model, backend="eager").preprocess
    files = [quantize_onnx(exported, tmp_path / f"int8_{i}.onnx",
                           calibration_batches(calibration_files(folder, 4, seed=7), preprocess)) for i in range(2)]
    assert files[0].read_bytes() == files[1].read_bytes()


def test_openvino_int8_keeps_idrnet_arithmetic_in_fp32(tmp_path, exported):
    """NNCF is told to leave every non-convolution node of the IDRNet head in fp32 (quantising them cost
    a trained IDRNet-FCN 20 mIoU); a baseline head has none to leave."""
    import onnx

    from idrnet.deploy.export import export_onnx
    from idrnet.deploy.openvino_model import context_arithmetic

    kept = context_arithmetic(exported)
    types = {n.name: n.op_type for n in onnx.load(str(exported)).graph.node}
    assert {"Div", "MatMul", "Softmax"} <= {types[name] for name in kept}
    assert "Conv" not in {types[name] for name in kept}
    baseline = build_model(tiny_config("fcn")).eval()
    assert context_arithmetic(export_onnx(baseline, tmp_path / "baseline.onnx", (64, 64))) == []


def test_openvino_precision_hint_is_read_in_every_spelling():
    """OpenVINO 2026 returns the compiled hint as a Type printed ``<Type: 'bfloat16'>``; reading it as text
    called every bf16 run fp32 (and warned of missing bf16 instructions on CPUs that have them)."""
    ov = pytest.importorskip("openvino")
    from idrnet.deploy.openvino_model import is_bf16_hint

    assert is_bf16_hint(ov.Type.bf16) and is_bf16_hint("bf16") and is_bf16_hint("BF16")
    assert not any(is_bf16_hint(h) for h in (ov.Type.f32, ov.Type.f16, "f32", "f16", "<Type: 'float32'>"))


def test_an_exported_file_keeps_its_precision_and_bf16_goes_to_openvino(exported):
    from idrnet.deploy.onnx_model import OnnxSegmentor

    graph = OnnxSegmentor(exported)
    runner = accelerate(graph, "bf16")  # ONNX Runtime has no bf16 convolutions: OpenVINO, not an error naming it
    assert (runner.backend, runner.precision) == ("openvino", "bf16")
    with pytest.raises(ValueError, match=r"fp32 ONNX file; for int8 write one with `idrnet export --precision int8"):
        accelerate(graph, "int8")


def test_missing_backend_is_one_line(monkeypatch, model_and_reference):
    import importlib

    from idrnet.optional import MissingExtraError

    real = importlib.import_module

    def without_openvino(name, *args, **kwargs):
        if name.split(".")[0] in ("openvino", "torchao"):
            raise ImportError(f"No module named {name!r}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", without_openvino)
    model, _, _ = model_and_reference
    with pytest.raises(MissingExtraError, match=r"pip install 'idrnet\[openvino\]'") as err:
        accelerate(model, "fp32", "openvino")
    assert "\n" not in str(err.value)
    with pytest.raises(MissingExtraError, match=r"pip install 'idrnet\[int8\]'"):
        accelerate(model, "int8", "compile", random_batches(1, (64, 64)))


def test_cli_int8_export_predict_and_test(tmp_path, trained, capsys):
    """`idrnet export --precision int8` writes a QDQ file that predict and test run; `idrnet test --precision
    int8` calibrates on the training split and stays close to fp32; flag mistakes exit 2 with one line."""
    from idrnet.cli.main import main

    config, ckpt, data = trained
    out = tmp_path / "int8.onnx"
    assert main(["export", str(ckpt), str(out), "--precision", "int8", "--calibration", str(config),
                 "--calibration-images", "4", "--check-sizes", "48x48"]) == 0
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["idrnet_precision"] == "int8" and "idrnet_config" in meta and "idrnet_data" in meta
    assert any(n.op_type == "QuantizeLinear" for n in onnx.load(str(out)).graph.node)
    results = {}
    for name, flags in (("fp32", ["--backend", "eager"]),
                        ("int8", ["--precision", "int8", "--backend", "onnxruntime", "--calibration-images", "4"])):
        path = tmp_path / f"{name}.json"
        assert main(["test", str(config), "--checkpoint", str(ckpt), "--out", str(path), *flags]) == 0
        results[name] = json.loads(path.read_text())
    assert results["int8"]["precision"] == "int8" and results["int8"]["backend"] == "onnxruntime"
    assert abs(results["int8"]["mIoU"] - results["fp32"]["mIoU"]) < 5.0
    image = next(p for p in sorted(data.rglob("*.png")) if "images" in p.parts)
    assert main(["predict", str(image), "--model", str(out), "--out", str(tmp_path / "pred")]) == 0
    # an int8 file is quantised already: --precision int8 needs no calibration for it
    assert main(["predict", str(image), "--model", str(out), "--out", str(tmp_path / "pred4"), "--precision", "int8"]) == 0
    assert main(["export", str(out), str(tmp_path / "again.onnx")]) == 2
    assert "already an exported ONNX model" in capsys.readouterr().err
    assert main(["predict", str(image), "--model", str(ckpt), "--out", str(tmp_path / "pred2"),
                 "--calibration", str(config)]) == 2
    assert "--calibration is used by --precision int8 only" in capsys.readouterr().err
    assert main(["predict", str(image), "--model", str(ckpt), "--out", str(tmp_path / "pred3"), "--precision", "int8"]) == 2
    assert "--precision int8 needs --calibration" in capsys.readouterr().err


def test_bench_measures_precisions_interleaved(tmp_path, capsys):
    import yaml

    from idrnet.cli.main import main
    from idrnet.config import to_dict

    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(to_dict(tiny_config())))
    log = tmp_path / "bench.jsonl"
    assert main(["bench", str(path), "--size", "64x64", "--runs", "2", "--warmup", "1", "--rounds", "2", "--device", "cpu",
                 "--precision", "fp32", "int8", "--backend", "eager", "onnxruntime", "--json", str(log)]) == 0
    out = capsys.readouterr().out
    assert "skipped int8 eager" in out and "int8 onnxruntime / fp32 eager latency ×" in out
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["precision"], r["backend"]) for r in records] == [
        ("fp32", "eager"), ("fp32", "onnxruntime"), ("int8", "onnxruntime")]


def test_the_backend_record_drives_the_choices_and_the_checks():
    from idrnet.cli.main import build_parser
    from idrnet.deploy.backends import BACKEND_RECORDS, PRECISIONS
    from idrnet.deploy.runtime import check_combination

    parser = build_parser()
    predict = parser._subparsers._group_actions[0].choices["predict"]
    backend = next(a for a in predict._actions if a.dest == "backend")
    assert list(backend.choices) == ["auto", *(b.name for b in BACKEND_RECORDS)]
    for record in BACKEND_RECORDS:
        for precision in PRECISIONS:
            for device in ("cpu", "cuda"):
                runs = precision in record.precisions and device in record.devices and (precision != "int8" or device == "cpu")
                if runs:
                    check_combination(precision, record.name, device)
                    continue
                with pytest.raises(InputError) as info:
                    check_combination(precision, record.name, device)
                assert record.name in str(info.value) and (precision in str(info.value) or device in str(info.value))


@pytest.mark.parametrize("family", list(SCRIPTED))
def test_bf16_on_the_cpu_feeds_channels_last_to_every_model_family(family):
    """bf16 on the CPU hands the model a channels-last input (oneDNN's bf16 convolutions run NHWC); every
    head and backbone accepts that layout (a ``view`` of an NHWC activation would raise) and stays within
    bf16's tolerance of fp32. The model's own weights keep their layout."""
    torch.manual_seed(0)
    model = build_model(SCRIPTED[family]).eval()
    images = torch.randn(2, 3, 67, 90, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        reference = model(images)
    layouts = []
    first_conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    hook = first_conv.register_forward_pre_hook(lambda _, args: layouts.append(args[0].is_contiguous(memory_format=torch.channels_last)))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a CPU without bf16 instructions emulates it (slow, same result)
        logits = accelerate(model, "bf16", "eager")(images)
    hook.remove()
    assert layouts == [True] and logits.is_contiguous() and logits.dtype == torch.float32
    stats = output_agreement(reference, logits)
    assert 0 < stats["norm_relative"] <= TOLERANCES["bf16"]["norm_relative"], stats
    assert all(p.is_contiguous() for p in model.parameters())
