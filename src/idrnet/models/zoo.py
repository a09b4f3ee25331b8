"""The model zoo: one dict from name to config, published accuracy, parameter count and checkpoint.

Names follow the official SSSegmentation configs (``idrnet_<framework>_<backbone>_<dataset>`` and
``<framework>_<backbone>_<dataset>`` for the baselines), so an official checkpoint's file stem is its
zoo name.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..errors import InputError, UnknownNameError
from .config import AuxiliaryConfig, BackboneConfig, HeadConfig, InferenceConfig, ModelConfig
from .heads import IDRNetHeadConfig, OCRNetHeadConfig

NUM_CLASSES = {"ade20k": 150, "cityscapes": 19, "cocostuff10k": 182, "lip": 20, "pascalcontext59": 59, "voc": 21}
_IDRNET_URL = "https://github.com/SegmentationBLWX/modelstore/releases/download/ssseg_idrnet/{}.pth"
_BASELINE_URL = "https://github.com/SegmentationBLWX/modelstore/releases/download/ssseg_{}/{}.pth"


@dataclass(frozen=True)
class ZooEntry:
    """A named model: its config and what is published about it."""

    name: str
    dataset: str
    framework: str
    config: ModelConfig
    params_total: int | None = None
    published_miou: dict[str, float] = field(default_factory=dict)
    checkpoint_url: str | None = None
    checkpoint_sha256: str | None = None
    baseline: str | None = None


def _r50(dataset: str, head: HeadConfig, inference: InferenceConfig | None = None) -> ModelConfig:
    return ModelConfig(
        num_classes=NUM_CLASSES[dataset],
        backbone=BackboneConfig("resnet50v1c", output_stride=8),
        head=head,
        auxiliary=AuxiliaryConfig(channels=512, dropout=0.1),
        inference=inference or InferenceConfig(),
    )


_SLIDE_640 = InferenceConfig(mode="slide", crop_size=(640, 640), stride=(426, 426), probs_before_resize=True)


def _swin(dataset: str, head: HeadConfig, inference: InferenceConfig | None = None) -> ModelConfig:
    return ModelConfig(
        num_classes=NUM_CLASSES[dataset],
        backbone=BackboneConfig("swin_large_384", output_stride=32),
        head=head,
        auxiliary=AuxiliaryConfig(channels=512, dropout=0.1),
        inference=inference or InferenceConfig(),
    )


# (framework, dataset): (head, inference, params_total, published mIoU) for the 20 official IDRNet configs.
_IDR = IDRNetHeadConfig
_IDRNET_R50 = {
    ("fcn", "ade20k"): (_IDR(feats_channels=1024), None, 55_972_736, {"ss": 43.61}),
    ("fcn", "cityscapes"): (_IDR(), None, 41_138_302, {"ss": 79.91}),
    ("fcn", "cocostuff10k"): (_IDR(), None, 41_538_304, {"ss": 38.61}),
    ("fcn", "lip"): (_IDR(), None, 41_140_432, {"ss": 51.24}),
    ("ppm", "ade20k"): (_IDR(context="ppm", context_refiner="after"), None, 55_222_656, {"ss": 44.02}),
    ("ppm", "cityscapes"): (
        _IDR(context="ppm", context_refiner="after", stage1_on_features=True, feats_channels=1024),
        None, 109_081_726, {"ss": 79.88},
    ),
    ("ppm", "cocostuff10k"): (_IDR(context="ppm", context_refiner="before"), None, 55_309_568, {"ss": 39.13}),
    ("ppm", "lip"): (_IDR(context="ppm"), None, 54_252_752, {"ss": 53.29}),
    ("aspp", "ade20k"): (_IDR(context="aspp", context_refiner="after"), None, 61_777_280, {"ss": 44.75}),
    ("aspp", "cityscapes"): (_IDR(context="aspp", context_refiner="after"), None, 61_464_190, {"ss": 80.69}),
    ("aspp", "cocostuff10k"): (
        _IDR(context="aspp", context_refiner="before"), InferenceConfig(probs_before_resize=True),
        61_864_192, {"ss": 39.31},
    ),
    ("aspp", "lip"): (_IDR(context="aspp"), None, 60_807_376, {"ss": 53.87}),
    ("upernet", "ade20k"): (
        _IDR(context="aspp", context_refiner="after", fpn_channels=512), None, 70_565_248, {"ss": 44.84}
    ),
    ("upernet", "cityscapes"): (
        _IDR(context="aspp", context_refiner="after", fpn_channels=512), None, 70_252_158, {"ss": 80.81}
    ),
    ("upernet", "cocostuff10k"): (
        _IDR(context="ppm", context_refiner="before", fpn_channels=512), None, 64_097_536, {"ss": 39.35}
    ),
    ("upernet", "lip"): (_IDR(context="ppm", fpn_channels=512), None, 63_040_720, {"ss": 54.00}),
}
_IDRNET_SWIN = {
    "ade20k": (_IDR(context="aspp", context_refiner="after", fpn_channels=1024), _SLIDE_640, 305_232_596,
               {"ss": 53.97, "ms_flip": 54.68}),
    "cocostuff10k": (_IDR(context="aspp", context_refiner="after", fpn_channels=1024), _SLIDE_640, 305_319_508,
                     {"ss": 49.94, "ms_flip": 50.54}),
    "lip": (_IDR(context="ppm", fpn_channels=1024), None, 285_909_540, {"ss": 60.53, "flip": 60.83, "ms_flip": 61.17}),
    "pascalcontext59": (_IDR(context="aspp", context_refiner="after", fpn_channels=1024), _SLIDE_640, 305_007_826,
                        {"ss": 63.82, "ms_flip": 64.50}),
}
# The official R-50-D8 baselines (same recipe without IDRNet); LIP/COCO-Stuff ones have no release.
# Each is the baseline of the matching IDRNet R-50 config (IDRNetHeadConfig.baseline, the one mapping).
_BASELINE_HEADS: dict[str, HeadConfig] = {
    "fcn": IDRNetHeadConfig().baseline(),
    "pspnet": IDRNetHeadConfig(context="ppm").baseline(),
    "deeplabv3": IDRNetHeadConfig(context="aspp").baseline(),
    "upernet": IDRNetHeadConfig(context="ppm", fpn_channels=512).baseline(),
}
_BASELINE_RESULTS = {
    ("fcn", "ade20k"): (40_199_308, 36.96), ("fcn", "cityscapes"): (40_064_902, 75.16),
    ("pspnet", "ade20k"): (51_474_572, 42.64), ("pspnet", "cityscapes"): (51_340_166, 79.05),
    ("deeplabv3", "ade20k"): (70_612_108, 43.19), ("deeplabv3", "cityscapes"): (70_477_702, 79.62),
    ("upernet", "ade20k"): (68_914_316, 43.02), ("upernet", "cityscapes"): (68_779_910, 79.08),
}
_IDRNET_TO_BASELINE = {"fcn": "fcn", "ppm": "pspnet", "aspp": "deeplabv3", "upernet": "upernet"}

# The 15 official OCRNet configs: (backbone, dataset) → (parameters, published single-scale mIoU).
_OCRNET_URL = "https://github.com/SegmentationBLWX/modelstore/releases/download/ssseg_ocrnet/{}.pth"
_OCRNET_BACKBONES = {"hrnetv2w18s": "hrnetv2_w18_small", "hrnetv2w18": "hrnetv2_w18", "hrnetv2w48": "hrnetv2_w48",
                     "resnet50os8": "resnet50v1c", "resnet101os8": "resnet101v1c"}
_OCRNET_RESULTS = {
    ("hrnetv2w18s", "ade20k"): (11_883_548, 37.35), ("hrnetv2w18s", "cityscapes"): (11_749_142, 79.02),
    ("hrnetv2w18s", "voc"): (11_751_194, 72.80),
    ("hrnetv2w18", "ade20k"): (17_585_088, 40.83), ("hrnetv2w18", "cityscapes"): (17_450_682, 80.77),
    ("hrnetv2w18", "voc"): (17_452_734, 75.19),
    ("hrnetv2w48", "ade20k"): (77_495_148, 43.57), ("hrnetv2w48", "cityscapes"): (77_360_742, 81.56),
    ("hrnetv2w48", "voc"): (77_362_794, 78.62),
    ("resnet50os8", "ade20k"): (43_217_548, 42.47), ("resnet50os8", "cityscapes"): (43_083_142, 79.40),
    ("resnet50os8", "voc"): (43_085_194, 76.75),
    ("resnet101os8", "ade20k"): (62_209_676, 43.99), ("resnet101os8", "cityscapes"): (62_075_270, 80.61),
    ("resnet101os8", "voc"): (62_077_322, 78.82),
}


def _ocrnet(backbone: str, dataset: str, head: HeadConfig | None = None) -> ModelConfig:
    """An OCRNet config (official, or with IDRNet's head): the object-region FCN lives in the head, so
    there is no separate auxiliary head."""
    return ModelConfig(num_classes=NUM_CLASSES[dataset], backbone=BackboneConfig(_OCRNET_BACKBONES[backbone], output_stride=8),
                       head=head or OCRNetHeadConfig(), auxiliary=None)


def _entries() -> dict[str, ZooEntry]:
    zoo: dict[str, ZooEntry] = {}
    for (framework, dataset), (head, inference, params, miou) in _IDRNET_R50.items():
        name = f"idrnet_{framework}_resnet50os8_{dataset}"
        zoo[name] = ZooEntry(
            name, dataset, f"idrnet-{framework}", _r50(dataset, head, inference), params, miou,
            _IDRNET_URL.format(name), baseline=f"{_IDRNET_TO_BASELINE[framework]}_resnet50os8_{dataset}",
        )
    for dataset, (head, inference, params, miou) in _IDRNET_SWIN.items():
        name = f"idrnet_upernet_swinlarge_{dataset}"
        zoo[name] = ZooEntry(name, dataset, "idrnet-upernet", _swin(dataset, head, inference), params, miou,
                             _IDRNET_URL.format(name))
    for framework, head in _BASELINE_HEADS.items():
        for dataset in ("ade20k", "cityscapes", "lip", "cocostuff10k"):
            name = f"{framework}_resnet50os8_{dataset}"
            params, miou = _BASELINE_RESULTS.get((framework, dataset), (None, None))
            url = _BASELINE_URL.format(framework, name) if miou is not None else None
            zoo[name] = ZooEntry(name, dataset, framework, _r50(dataset, replace(head)), params,
                                 {"ss": miou} if miou is not None else {}, url)
    for (backbone, dataset), (params, miou) in _OCRNET_RESULTS.items():
        name = f"ocrnet_{backbone}_{dataset}"
        zoo[name] = ZooEntry(name, dataset, "ocrnet", _ocrnet(backbone, dataset), params, {"ss": miou}, _OCRNET_URL.format(name))
        # IDRNet on OCRNet (no official release): OCR's augmented representation is IDRNet's coarse
        # context, with the official IDRNet widths and losses (docs/design.md).
        idr_name = f"idrnet_{name}"
        zoo[idr_name] = ZooEntry(idr_name, dataset, "idrnet-ocrnet", _ocrnet(backbone, dataset, IDRNetHeadConfig(context="ocr")),
                                 baseline=name)
    return zoo


MODEL_ZOO: dict[str, ZooEntry] = _entries()


def list_models(prefix: str = "") -> list[str]:
    """Zoo names starting with ``prefix``, or matching it as a wildcard pattern (``"*upernet*"``, as timm's
    ``list_models`` takes), sorted."""
    import fnmatch

    if not isinstance(prefix, str):
        raise InputError(f"list_models: expected a name prefix or a pattern such as '*upernet*', got {prefix!r}")
    if any(c in prefix for c in "*?["):
        return sorted(fnmatch.filter(MODEL_ZOO, prefix))
    return sorted(n for n in MODEL_ZOO if n.startswith(prefix))


# The official names call IDRNet's heads by their context module (idrnet_ppm, idrnet_aspp) and the
# baselines by their paper (pspnet, deeplabv3); people also shorten backbones and datasets. Suggestions
# and the `models` filter read these words as the zoo's own.
SAME_WORDS = {
    "pspnet": "ppm", "psp": "ppm", "deeplabv3": "aspp", "deeplab": "aspp",
    "r50": "resnet50os8", "resnet50": "resnet50os8", "r101": "resnet101os8", "resnet101": "resnet101os8",
    "swin": "swinlarge", "swinl": "swinlarge", "ade": "ade20k", "coco": "cocostuff10k", "cocostuff": "cocostuff10k",
    "pascalcontext": "pascalcontext59", "cityscape": "cityscapes",
}


def _zoo_words(text: str) -> str:
    return "_".join(SAME_WORDS.get(w, w) for w in text.lower().replace("-", "_").split("_"))


def find_models(words: list[str]) -> list[str]:
    """Zoo names, sorted, that contain every one of ``words`` (any case, the zoo's own words or the
    ones ``SAME_WORDS`` reads as them: ``pspnet`` finds ``pspnet_*`` and ``idrnet_ppm_*``); a word with
    wildcards (``*upernet*``, as list_models takes) must match the whole name."""
    import fnmatch

    def has(name: str, word: str) -> bool:
        if any(c in word for c in "*?["):
            return fnmatch.fnmatchcase(name, word.lower())
        return word.lower() in name or _zoo_words(word) in _zoo_words(name)

    return [name for name in sorted(MODEL_ZOO) if all(has(name, w) for w in words)]


def closest_models(text: str, n: int = 5) -> list[str]:
    """Zoo names that look like ``text`` (a misspelt name, or words of one), closest first; the one
    measure every "did you mean" about zoo names uses. ``idrnet_pspnet_r50_ade20k`` finds
    ``idrnet_ppm_resnet50os8_ade20k`` first."""
    import difflib

    by_words: dict[str, list[str]] = {}
    for name in sorted(MODEL_ZOO):
        by_words.setdefault(_zoo_words(name), []).append(name)
    # Names are long (idrnet_upernet_resnet50os8_ade20k): a loose cutoff still finds them from a few words.
    close = difflib.get_close_matches(_zoo_words(text), by_words, n=n, cutoff=0.4)
    return [name for words in close for name in by_words[words]][:n]


def get_entry(name: str) -> ZooEntry:
    """The zoo entry called ``name``; an unknown name raises ``KeyError`` listing close names."""
    if name not in MODEL_ZOO:
        close = closest_models(name)
        hint = f"; did you mean {', '.join(close)}?" if close else " (`idrnet models` or idrnet.list_models() lists them)"
        raise UnknownNameError(f"unknown model {name!r}{hint}")
    return MODEL_ZOO[name]
