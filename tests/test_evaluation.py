"""Metrics, inference modes (whole, slide, multi-scale/flip TTA) and idrnet test."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from idrnet import build_model
from idrnet.errors import InputError
from idrnet.evaluation.confusion import ConfusionMatrix, metrics_from_confusion
from idrnet.evaluation.inference import (
    TTAConfig, labels_of, predict_labels, predict_scores, probability_groups, slide_scores, whole_scores,
)
from idrnet.models.config import InferenceConfig
from tiny import tiny_config


# ------------------------------------------------------------------------------------------ metrics
def test_metrics_on_a_hand_built_case():
    gt = torch.tensor([[0, 0, 1, 1], [2, 2, 255, 1]])
    pred = torch.tensor([[0, 1, 1, 1], [2, 0, 3, 3]])
    cm = ConfusionMatrix(4)
    cm.update(pred, gt)
    m = cm.metrics()
    # class 0: tp 1, gt 2, pred 2 → IoU 1/3; class 1: tp 2, gt 3, pred 3 → 2/4; class 2: tp 1, gt 2, pred 1 → 1/2
    # class 3: gt 0, pred 1 → IoU 0 (counted), Acc NaN (skipped)
    assert m["IoU"][:3] == pytest.approx([1 / 3, 0.5, 0.5]) and m["IoU"][3] == 0
    assert m["mIoU"] == pytest.approx((1 / 3 + 0.5 + 0.5 + 0) / 4)
    assert math.isnan(m["Acc"][3]) and m["mAcc"] == pytest.approx((0.5 + 2 / 3 + 0.5) / 3)
    assert m["aAcc"] == pytest.approx(4 / 7)
    assert m["Dice"][0] == pytest.approx(2 * 1 / 4)
    assert m["Precision"][2] == 1.0 and m["Recall"][2] == 0.5
    assert m["Fscore"][2] == pytest.approx(2 * 1 * 0.5 / 1.5)


def test_classes_absent_from_prediction_and_ground_truth_are_skipped():
    m = metrics_from_confusion(torch.tensor([[3, 1, 0], [0, 2, 0], [0, 0, 0]]))
    assert math.isnan(m["IoU"][2]) and m["mIoU"] == pytest.approx((3 / 4 + 2 / 3) / 2)


def test_streaming_metrics_equal_an_independent_computation():
    rng = np.random.default_rng(0)
    k = 6
    cm = ConfusionMatrix(k, ignore_index=255)
    gts, preds = [], []
    for _ in range(5):
        gt = rng.integers(0, k, size=(17, 23))
        gt[rng.random(gt.shape) < 0.1] = 255
        pred = np.where(rng.random(gt.shape) < 0.6, gt % k, rng.integers(0, k, size=gt.shape))
        cm.update(torch.from_numpy(pred), torch.from_numpy(gt))
        gts.append(gt.ravel()), preds.append(pred.ravel())
    gt, pred = np.concatenate(gts), np.concatenate(preds)
    valid = gt != 255
    ious, accs = [], []
    for c in range(k):
        inter = np.sum((gt == c) & (pred == c) & valid)
        union = np.sum(((gt == c) | (pred == c)) & valid)
        ious.append(inter / union)
        accs.append(inter / np.sum((gt == c) & valid))
    m = cm.metrics()
    assert m["IoU"] == pytest.approx(ious) and m["mIoU"] == pytest.approx(np.mean(ious))
    assert m["Acc"] == pytest.approx(accs)
    assert m["aAcc"] == pytest.approx(np.mean(gt[valid] == pred[valid]))


# ---------------------------------------------------------------------------------------- inference
class _PixelModel(nn.Module):
    """A segmentor stand-in whose scores are a per-pixel function of the input (flip-equivariant)."""

    align_corners = False
    size_divisor = 1

    def __init__(self, k: int = 3) -> None:
        super().__init__()
        self.head = nn.Conv2d(3, k, 1)
        self.num_classes = k
        self.config = tiny_config(num_classes=k)

    def forward_logits(self, images):
        return self.head(images)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64])
def test_labels_are_argmax_on_ties_nan_and_infinities(dtype):
    """labels_of (``max(dim).indices``, faster on the CPU) labels every pixel as ``argmax`` does: scores
    drawn from three values tie everywhere, and NaN, ±inf are placed in single pixels."""
    scores = torch.randint(0, 3, (3, 11, 17, 23), generator=torch.Generator().manual_seed(0)).to(dtype)
    scores[0, 4, 0, 0] = float("nan")
    scores[1, 2, 1, 1] = scores[1, 9, 1, 1] = float("nan")
    scores[1, :, 2, 2] = float("-inf")
    scores[2, 6, 3, 3] = float("inf")
    for dim, tensor in ((1, scores), (0, scores[1])):
        assert torch.equal(labels_of(tensor, dim), tensor.argmax(dim))
    assert labels_of(scores)[1, 1, 1] == 2 and labels_of(scores)[1, 2, 2] == 0


def test_predict_scores_records_no_gradients():
    """predict_scores is inference: called outside any no_grad block it builds no autograd graph."""
    scores = predict_scores(_PixelModel().eval(), torch.randn(1, 3, 8, 8))
    assert not scores.requires_grad and labels_of(scores).shape == (1, 8, 8)


def test_slide_window_averages_overlapping_crops_exactly():
    torch.manual_seed(0)
    model = _PixelModel().eval()
    images = torch.randn(2, 3, 37, 53)
    expected = model.forward_logits(images)
    out = slide_scores(model, images, (16, 20), (10, 12), crop_batch=3)
    assert torch.allclose(out, expected, atol=1e-5)


def test_slide_refuses_a_stride_larger_than_the_crop():
    """Windows 64 wide every 128 left a band of pixels without a score: 0/0 = NaN, read as label 0."""
    images = torch.randn(1, 3, 200, 200)
    with pytest.raises(InputError, match="stride no larger than the crop"):
        slide_scores(_PixelModel().eval(), images, (64, 64), (128, 128))
    assert torch.isfinite(slide_scores(_PixelModel().eval(), images, (64, 64), (64, 64))).all()  # touching windows


def test_slide_equals_whole_when_one_crop_covers_the_image():
    torch.manual_seed(0)
    model = build_model(tiny_config("idrnet")).eval()
    images = torch.randn(1, 3, 40, 56)
    with torch.no_grad():
        whole = whole_scores(model, images, (40, 56))
        slide = slide_scores(model, images, (64, 64), (32, 32), (40, 56))
    assert torch.allclose(whole, slide, atol=1e-5)


def test_flip_tta_of_a_flip_equivariant_model_changes_nothing_and_pairs_swap():
    torch.manual_seed(0)
    model = _PixelModel(4).eval()
    images = torch.randn(1, 3, 24, 30)
    base = predict_scores(model, images, InferenceConfig())
    flipped = predict_scores(model, images, InferenceConfig(), tta=TTAConfig(flip=True))
    assert torch.allclose(base, flipped, atol=1e-5)
    swapped = predict_scores(model, images, InferenceConfig(), tta=TTAConfig(flip=True), flip_pairs=[(1, 2)])
    expected = (base + base[:, [0, 2, 1, 3]]) / 2
    assert torch.allclose(swapped, expected, atol=1e-5)


@pytest.mark.parametrize("inference", [InferenceConfig(), InferenceConfig(probs_before_resize=True),
                                       InferenceConfig(mode="slide", crop_size=(32, 32), stride=(24, 24))],
                         ids=["whole", "probs_before_resize", "slide"])
def test_labels_of_large_outputs_are_found_a_few_classes_at_a_time_with_the_same_result(inference):
    """Full-resolution scores of 150 classes on a 12-megapixel photo are 7.2 GB (predict peaked at 15 GB);
    predict_labels resizes a few classes at a time above its byte budget and must give exactly the labels
    of the whole scores, whatever the budget, with TTA, swapped left/right classes, ties and NaN."""
    torch.manual_seed(0)
    model = build_model(tiny_config("idrnet", num_classes=7)).eval()
    images = torch.randn(2, 3, 40, 56)
    for tta in (None, TTAConfig((0.75, 1.0, 1.5), flip=True)):
        scores = predict_scores(model, images, inference, (97, 131), tta, [(1, 2)])
        expected = labels_of(scores)
        top = (scores if inference.probs_before_resize else scores.softmax(1)).amax(1)
        for budget in (1, 3 * 2 * 97 * 131 * 4, 10**9):  # one class, three classes, all at a time
            labels, confidence = predict_labels(model, images, inference, (97, 131), tta, [(1, 2)],
                                                return_confidence=True, max_bytes=budget)
            assert torch.equal(labels, expected)
            torch.testing.assert_close(confidence, top, rtol=1e-5, atol=1e-6)

    class Constant(nn.Module):  # ties everywhere, and a NaN in class 5 of one pixel
        size_divisor, align_corners = 1, False

        def forward_logits(self, x):
            out = torch.zeros(x.shape[0], 7, *x.shape[2:])
            out[:, 3:] = 1.0
            out[0, 5, 2, 2] = float("nan")
            return out

    labels = predict_labels(Constant(), torch.zeros(1, 3, 8, 8), InferenceConfig(), max_bytes=2 * 64 * 4)
    assert labels[0, 0, 0] == 3 and labels[0, 2, 2] == 5


@pytest.mark.parametrize("probs_before_resize", [False, True])
def test_probabilities_a_few_classes_at_a_time_are_the_softmax(probs_before_resize):
    """predict --probs held all K×H×W float32 probabilities and a float16 copy (15.2 GB peak for 150 classes
    on a 12-megapixel photo); probability_groups gives them a group of classes at a time."""
    torch.manual_seed(0)
    model = build_model(tiny_config("idrnet", num_classes=7)).eval()
    images = torch.randn(1, 3, 40, 56)
    inference, tta = InferenceConfig(probs_before_resize=probs_before_resize), TTAConfig((0.75, 1.0), flip=True)
    scores = predict_scores(model, images, inference, (97, 131), tta, [(1, 2)])
    expected = scores if probs_before_resize else scores.softmax(1)
    whole = list(probability_groups(model, images, inference, (97, 131), tta, [(1, 2)]))
    assert [first for first, _ in whole] == [0] and torch.equal(whole[0][1], expected)  # fits: one group, exact
    groups = list(probability_groups(model, images, inference, (97, 131), tta, [(1, 2)], max_bytes=3 * 97 * 131 * 4))
    assert [(first, g.shape[1]) for first, g in groups] == [(0, 3), (3, 3), (6, 1)]
    torch.testing.assert_close(torch.cat([g for _, g in groups], 1), expected, rtol=1e-5, atol=1e-6)


def test_multiscale_tta_returns_the_requested_size_for_odd_inputs():
    model = build_model(tiny_config("idrnet", context="ppm", context_refiner="after")).eval()
    images = torch.randn(1, 3, 45, 61)
    out = predict_scores(model, images, InferenceConfig(probs_before_resize=True), (90, 122),
                         TTAConfig((0.5, 1.0, 1.5), flip=True))
    assert out.shape == (1, 5, 90, 122)
    assert torch.allclose(out.sum(1), torch.ones(1, 90, 122), atol=1e-4)  # averaged probabilities


def test_hrnet_like_backbones_get_any_input_size():
    from idrnet.models.config import BackboneConfig

    config = tiny_config("fcn")
    config.backbone = BackboneConfig("hrnet_w18_small", output_stride=32)
    model = build_model(config).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 97, 131))
    assert out.shape == (1, 5, 97, 131)


def test_label_pngs_of_one_model_share_one_bit_depth(tmp_path):
    from PIL import Image

    from idrnet.evaluation.evaluator import save_label_png

    # A 300-class model: one image whose labels all fit in a byte, one that uses class 299. Both must be
    # 16-bit, so that a folder of one model's predictions does not mix depths.
    low = np.array([[0, 7], [255, 3]], dtype=np.int64)
    high = np.array([[0, 299], [256, 3]], dtype=np.int64)
    for name, labels in (("low", low), ("high", high)):
        save_label_png(labels, tmp_path / f"{name}.png", num_classes=300)
    for name, labels in (("low", low), ("high", high)):
        with Image.open(tmp_path / f"{name}.png") as image:
            assert image.mode.startswith("I"), (name, image.mode)
            np.testing.assert_array_equal(np.asarray(image), labels)
    # A 19-class model with a palette stays an 8-bit palette PNG whose values are the classes.
    save_label_png(low.clip(0, 18), tmp_path / "small.png", palette=[(i, i, i) for i in range(19)], num_classes=19)
    with Image.open(tmp_path / "small.png") as image:
        assert image.mode == "P"
        np.testing.assert_array_equal(np.asarray(image), low.clip(0, 18))


# ------------------------------------------------------------------------------------------ idrnet test
def test_idrnet_test_prints_a_table_and_writes_results(trained, tmp_path, capsys):
    from idrnet.cli.main import main
    from PIL import Image

    config, ckpt, data = trained
    out = tmp_path / "results.json"
    assert main(["test", str(config), "--checkpoint", str(ckpt), "--out", str(out), "--flip",
                 "--save-predictions", str(tmp_path / "pred")]) == 0
    text = capsys.readouterr().out
    assert "cup on table" in text and "mIoU" in text
    record = json.loads(out.read_text())
    assert 0 <= record["mIoU"] <= 1 and len(record["IoU"]) == 11 and record["tta"]["flip"] is True
    saved = sorted((tmp_path / "pred").glob("*.png"))
    assert len(saved) == 3
    label = Image.open(data / "masks" / "val" / saved[0].name)
    assert Image.open(saved[0]).size == label.size


def test_idrnet_test_rejects_slide_without_crop(trained, capsys):
    from idrnet.cli.main import main

    config, ckpt, _ = trained
    assert main(["test", str(config), "--checkpoint", str(ckpt), "--mode", "slide"]) == 2
    assert "--crop" in capsys.readouterr().err


def test_cityscapes_label_ids_are_written_for_cityscapes_classes_only(trained, tmp_path, capsys):
    """--format cityscapes mapped any dataset's train ids through Cityscapes' table without a word (an 11-class
    dataset's predictions became Cityscapes label ids)."""
    from PIL import Image

    from idrnet.cli.main import main
    from idrnet.evaluation.evaluator import save_label_png

    config, ckpt, _ = trained
    argv = ["test", str(config), "--checkpoint", str(ckpt), "--out", str(tmp_path / "r.json")]
    assert main([*argv, "--save-predictions", str(tmp_path / "p"), "--format", "cityscapes"]) == 2
    assert "--format cityscapes writes the Cityscapes label ids of its 19 train classes" in capsys.readouterr().err
    assert not (tmp_path / "p").exists() and not (tmp_path / "r.json").exists()
    # the official ids: road 7, sidewalk 8, building 11, sky 23, bicycle 33
    save_label_png(np.array([[0, 1], [2, 10], [18, 18]]), tmp_path / "c.png", format="cityscapes", num_classes=19)
    with Image.open(tmp_path / "c.png") as image:
        np.testing.assert_array_equal(np.asarray(image), [[7, 8], [11, 23], [33, 33]])


def test_idrnet_test_refuses_outputs_that_collide_before_evaluating(trained, tmp_path, capsys, monkeypatch):
    """`--out res.json --save-predictions res.json` evaluated every image, wrote the predictions into a
    folder res.json, then failed on the results ("Is a directory: res.jsonXXXX.tmp"); an --out folder or a
    --save-predictions file likewise failed only at the end. A misspelt split named no existing one."""
    from idrnet.cli.main import main

    monkeypatch.setattr("idrnet.evaluation.evaluator.predict_labels", lambda *a, **k: pytest.fail("evaluated"))
    config, ckpt, _ = trained
    test = ["test", str(config), "--checkpoint", str(ckpt)]
    same = str(tmp_path / "res.json")
    cases = [(["--out", same, "--save-predictions", same], "is the results file --out"),
             (["--out", str(tmp_path)], "is a folder; expected a file name such as"),
             (["--out", same, "--save-predictions", str(config), "--overwrite"], "is a file; expected a folder"),
             (["--out", same, "--split", "Val"], "the splits here: train, val")]
    for extra, message in cases:
        assert main([*test, *extra]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "res.json").exists()


def test_a_custom_dataset_folder_is_evaluated_as_its_config_is(trained, tmp_path, capsys):
    """`--data mydata/` (and `idrnet test mydata/`) was refused: "is a dataset folder; expected a training
    config". The folder is resized as the model was trained (its stored test size): the figures equal the
    training config's."""
    from idrnet.apis.robustness import robustness
    from idrnet.cli.main import main as cli
    from runs import error_of

    config, ckpt, data = trained
    for name, source in (("config", config), ("folder", data)):
        assert cli(["test", str(source), "--checkpoint", str(ckpt), "--out", str(tmp_path / f"{name}.json")]) == 0
        assert cli(["compare", str(ckpt), str(ckpt), "--data", str(source), "--out", str(tmp_path / f"c_{name}"),
                    "--resamples", "10", "--gallery", "0"]) == 0
    capsys.readouterr()
    by_config, by_folder = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("config", "folder"))
    assert by_folder["mIoU"] == by_config["mIoU"] and by_folder["IoU"] == by_config["IoU"]
    compared = [json.loads((tmp_path / f"c_{n}" / "compare.json").read_text()) for n in ("config", "folder")]
    assert compared[0]["metrics_a"] == compared[1]["metrics_a"]
    assert compared[1]["metrics_a"]["mIoU"] == pytest.approx(by_config["mIoU"])
    reports = [robustness(ckpt, data=source, corruptions="fog", severities=1, resamples=10, workers=0, seed=0)
               for source in (config, data / "dataset.yaml")]  # the dataset.yaml itself names its folder
    (a,), (b,) = (r["models"].values() for r in reports)
    assert (a["clean_miou"], a["mpc"]) == (b["clean_miou"], b["mpc"]) and a["clean_miou"] == pytest.approx(by_config["mIoU"])

    # a folder names no model: test takes it whole from --checkpoint; --set reaches data.* keys only
    assert "names no model" in error_of(capsys, ["test", str(data), "--checkpoint", "official"])
    assert "training config naming the model" in error_of(capsys, ["test", str(data), "--checkpoint", "x.pth"])
    err = error_of(capsys, ["compare", str(ckpt), str(ckpt), "--data", str(data / "images"), "--out", str(tmp_path / "x")])
    assert "images is a folder without a dataset.yaml; expected a custom dataset folder" in err
    assert "only data.* keys apply" in error_of(capsys, ["test", str(data), "--checkpoint", str(ckpt), "--set", "seed=3"])
    # a model that records no training size (saved without a data description) needs one to be named
    import idrnet

    loaded = idrnet.create_model(str(ckpt))
    del loaded.data_description  # what the file told create_model, which save_checkpoint would store again
    bare = idrnet.save_checkpoint(loaded, tmp_path / "bare.safetensors")
    assert "records no test-time resize" in error_of(capsys, ["test", str(data), "--checkpoint", str(bare)])
    assert cli(["test", str(data), "--checkpoint", str(bare), "--set", "data.test_scale=[96,48]",
                "--out", str(tmp_path / "bare.json")]) == 0
    assert json.loads((tmp_path / "bare.json").read_text())["mIoU"] == by_config["mIoU"]


def test_a_training_run_folder_given_as_config_or_data_names_its_config(trained, capsys):
    """`idrnet test runs/x --checkpoint …`, `compare … --data runs/x`, `train runs/x`, `data check runs/x`
    said only "is a folder; expected a file" or "no dataset.yaml": the run's own config.yaml is named.
    A plain folder of images given to test is named as not a dataset folder, as compare names it."""
    from runs import error_of

    config, ckpt, data = trained
    run = ckpt.parent
    hint = f"a training run's folder keeps its config as {run / 'config.yaml'}"
    for argv in (["test", str(run), "--checkpoint", str(ckpt)], ["train", str(run)], ["data", "check", str(run)],
                 ["compare", str(ckpt), str(ckpt), "--data", str(run), "--out", str(run.parent / "cmp")]):
        assert hint in error_of(capsys, argv), argv
    err = error_of(capsys, ["test", str(data / "images"), "--checkpoint", str(ckpt)])
    assert "images is a folder without a dataset.yaml; expected a custom dataset folder" in err and hint not in err


def test_a_training_run_folder_given_as_weights_or_state_names_those_files(trained, capsys, tmp_path):
    """A run's folder given as --checkpoint, to convert, or to --resume was answered with the run's
    config.yaml ("keeps its config as …"), which none of them takes: the weights or the training state are
    named instead."""
    from runs import error_of

    config, ckpt, data = trained
    run = ckpt.parent
    weights = f"keeps its weights as {run / 'final.safetensors'}"
    for argv in (["test", str(config), "--checkpoint", str(run)], ["convert", str(run), str(tmp_path / "c.safetensors")],
                 ["predict", str(data / "images"), "--model", str(config), "--checkpoint", str(run),
                  "--out", str(tmp_path / "p")]):
        err = error_of(capsys, argv)
        assert weights in err and "config.yaml" not in err, argv
    err = error_of(capsys, ["train", str(config), "--resume", str(run), "--set", f"work_dir={tmp_path / 'w'}"])
    assert f"keeps its training state as {run / 'latest.pt'}" in err
