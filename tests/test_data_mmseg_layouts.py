"""Data as mmsegmentation users have it: suffixed names, LIP/CIHP without id lists, COCO-Stuff-164k in
mmseg's converted form, raw 255 as ignore; and `data check` reporting every split."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_data import save_label, save_rgb

from idrnet.cli.main import main as cli
from idrnet.data.datasets.benchmarks import BENCHMARKS, build_benchmark
from idrnet.data.datasets.custom import build_custom, open_custom


def test_custom_dataset_with_mmseg_suffixes(tmp_path):
    (tmp_path / "dataset.yaml").write_text(yaml.safe_dump(
        {"classes": ["a", "b"], "images": "imgs", "masks": "gts", "image_suffix": "_img.jpg", "mask_suffix": "_gt.png"}))
    for i in range(3):
        save_rgb(tmp_path / f"imgs/train/{i:05d}_img.jpg", 4, 4)
        save_label(tmp_path / f"gts/train/{i:05d}_gt.png", [[0, 1, 1, 0]] * 4)
    save_rgb(tmp_path / "imgs/train/thumbs.png", 4, 4)  # not an image of this dataset: other suffix
    dataset = build_custom(tmp_path, "train")
    assert [s.id for s in dataset.samples] == ["00000", "00001", "00002"]
    assert dataset.samples[1].label.name == "00001_gt.png" and dataset.load(1)["label"].tolist()[0] == [0, 1, 1, 0]


def test_split_lists_as_windows_editors_and_people_write_them(tmp_path):
    """A split list saved with a byte-order mark (Notepad) lost its first sample ("listed in train.txt but no
    image: \ufeffa"), one saved as UTF-16 (PowerShell's `>`) every sample, and ids written as file names
    (a.jpg, images/b.jpg) were "no image"."""
    (tmp_path / "dataset.yaml").write_text(yaml.safe_dump({"classes": ["x", "y"]}))
    for name in ("a", "b", "c"):
        save_rgb(tmp_path / f"images/{name}.jpg", 4, 4)
        save_label(tmp_path / f"masks/{name}.png", [[0, 1, 1, 0]] * 4)
    (tmp_path / "train.txt").write_bytes("a\r\nimages/b.jpg\r\nc.jpg\r\n".encode("utf-8-sig"))
    (tmp_path / "val.txt").write_text("b\nc\n", encoding="utf-16")
    for split, ids in (("train", ["a", "b", "c"]), ("val", ["b", "c"])):
        dataset, problems = open_custom(tmp_path, split)
        assert [s.id for s in dataset.samples] == ids and problems == [], (split, problems)


def test_two_images_of_one_name_are_a_problem_naming_both(tmp_path):
    (tmp_path / "dataset.yaml").write_text(yaml.safe_dump({"classes": ["a", "b"]}))
    save_rgb(tmp_path / "images/train/cat.jpg", 4, 4)
    save_rgb(tmp_path / "images/train/cat.png", 4, 4)
    save_label(tmp_path / "masks/train/cat.png", [[0, 1, 1, 0]] * 4)
    _, problems = open_custom(tmp_path, "train")
    assert any("cat.jpg" in p and "cat.png" in p for p in problems)
    with pytest.raises(FileNotFoundError, match="cat.jpg"):
        build_custom(tmp_path, "train")


def test_lip_and_cihp_without_id_lists_scan_their_folders(tmp_path):
    for i in ("b", "a"):
        save_rgb(tmp_path / f"LIP/val_images/{i}.jpg", 4, 4)
        save_label(tmp_path / f"LIP/val_segmentations/{i}.png", [[0, 1, 2, 19]] * 4)
    assert [s.id for s in build_benchmark("lip", tmp_path / "LIP", "val").samples] == ["a", "b"]
    save_rgb(tmp_path / "CIHP/Validation/Images/0000015.jpg", 4, 4)
    save_label(tmp_path / "CIHP/Validation/Category_ids/0000015.png", [[0, 1, 2, 3]] * 4)
    assert [s.id for s in build_benchmark("cihp", tmp_path / "CIHP", "val").samples] == ["0000015"]


def _mmseg_metainfo(module: str) -> dict:
    spec = importlib.util.find_spec("mmseg")
    if spec is None:
        pytest.skip("mmsegmentation is not installed (scripts/setup.sh installs it)")
    tree = ast.parse((Path(spec.submodule_search_locations[0]) / "datasets" / f"{module}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "METAINFO":
            return {kw.arg: ast.literal_eval(kw.value) for kw in node.value.keywords}
    raise AssertionError(f"no METAINFO in mmseg.datasets.{module}")


def test_cocostuff164k_in_mmsegs_converted_form(tmp_path):
    meta = _mmseg_metainfo("coco_stuff")
    info = BENCHMARKS["cocostuff164k_mmseg"].info
    assert info.classes == tuple(meta["classes"]) and info.palette == tuple(tuple(c) for c in meta["palette"])
    save_rgb(tmp_path / "images/val2017/000000000139.jpg", 2, 4)
    save_label(tmp_path / "annotations/val2017/000000000139_labelTrainIds.png", [[0, 170, 255, 5]] * 2)
    save_label(tmp_path / "annotations/val2017/000000000139.png", [[200] * 4] * 2)  # the raw map beside it
    dataset = build_benchmark("cocostuff164k_mmseg", tmp_path, "val")
    assert dataset.load(0)["label"][0].tolist() == [0, 170, 255, 5]


def test_a_raw_255_is_ignored_in_every_benchmark():
    for name, benchmark in BENCHMARKS.items():
        mapped = benchmark.label_map(np.array([[255]]))
        assert mapped[0, 0] == benchmark.label_map.ignore_index, name


def test_ade20k_mask_with_255_reads_as_ignore(tmp_path):
    root = tmp_path / "ADEChallengeData2016"
    save_rgb(root / "images/validation/a.jpg", 2, 3)
    save_label(root / "annotations/validation/a.png", [[0, 1, 255]] * 2)
    assert build_benchmark("ade20k", tmp_path, "val").load(0)["label"][0].tolist() == [255, 0, 255]


def test_data_check_reports_every_split_before_it_exits(tmp_path, capsys):
    root = tmp_path / "LIP"
    save_rgb(root / "train_images/a.jpg", 4, 4)
    save_label(root / "train_segmentations/a.png", [[0, 1, 2, 99]] * 4)  # 99: no class
    target = tmp_path / "lip.yaml"
    target.write_text(yaml.safe_dump({"dataset": "lip", "root": str(root)}))  # and no val folders at all
    assert cli(["data", "check", str(target)]) == 1
    out = capsys.readouterr().out
    assert "== split train" in out and "99" in out
    assert "== split val" in out and "val_images" in out
    assert "problems found in split(s): train, val" in out
