"""Write the parity fixtures in tests/fixtures/reference/ by driving the reference implementation.

Needs the reference installed (not a test dependency):
    pip install --no-deps sssegmentation==1.7.0
    pip install opencv-python-headless pandas scipy dill matplotlib
    python tools/make_reference_fixtures.py

Each case is a reduced-width copy of an official config (same structure, tiny channels) so the
fixtures stay small. For every case the reference model is randomly initialised, its BatchNorm and
IDRNet statistics are randomised (so inference really uses them), and the tool records:
the initial state dict (official key names), an input batch and its eval logits, then one training
step (dropout 0, the deleted class of each image forced) with the losses and every statistic after it.
"""

from __future__ import annotations

import copy
import json
import random
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "reference"

BASE_WIDTH = 4  # ResNet stage widths 4/8/16/32 or 16/32/64/128
C = 16  # head feats_channels
T = 8  # refine_*_channels
K = 6  # classes


def reference_idrnet_cfg(depth: int, head: dict, selected=(2, 3), fpn: bool = False) -> dict:
    expansion = 4 if depth >= 50 else 1
    stages = [BASE_WIDTH * m * expansion for m in (1, 2, 4, 8)]
    cfg = {
        "type": "IDRNet", "num_classes": K, "align_corners": False,
        "norm_cfg": {"type": "BatchNorm2d"}, "act_cfg": {"type": "ReLU", "inplace": True},
        "backbone": {"type": "ResNet", "depth": depth, "structure_type": f"resnet{depth}conv3x3stem",
                     "pretrained": False, "outstride": 8, "use_conv3x3_stem": True,
                     "base_channels": BASE_WIDTH, "stem_channels": BASE_WIDTH, "selected_indices": selected},
        "head": {"in_channels": stages[-1], "feats_channels": C, "refine_idcontext_channels": T,
                 "refine_coarsecontext_channels": T, "use_sa_on_coarsecontext_before": False,
                 "use_sa_on_coarsecontext_after": False, "use_fpn_before": False, "use_fpn_after": True,
                 "force_stage1_use_oripr": False, "clsrelation_momentum": 0.1, "dlclsreps_momentum": 0.1,
                 "ignore_index": 255, "dropout": 0.0},
        "auxiliary": {"in_channels": stages[2], "out_channels": C, "dropout": 0.0},
        "losses": {
            "loss_aux": {"type": "CrossEntropyLoss", "scale_factor": 0.4, "ignore_index": 255, "reduction": "mean"},
            "loss_cls_stage1": {"type": "CrossEntropyLoss", "scale_factor": 0.4, "ignore_index": 255, "reduction": "mean"},
            "loss_cls_stage2": {"type": "CrossEntropyLoss", "scale_factor": 1.0, "ignore_index": 255, "reduction": "mean"},
        },
        "inference": {"forward": {"mode": "whole", "cropsize": None, "stride": None},
                      "tta": {"multiscale": [1], "flip": False, "use_probs_before_resize": False}},
    }
    cfg["head"].update(head)
    if fpn:
        cfg["head"]["fpn"] = {"in_channels_list": stages, "feats_channels": C, "out_channels": C}
    return cfg


def our_config(depth: int, head: dict, fpn: bool = False) -> dict:
    return {
        "num_classes": K, "ignore_index": 255,
        "backbone": {"name": f"resnet{depth}v1c", "output_stride": 8, "base_width": BASE_WIDTH},
        "head": {"type": "idrnet", "feats_channels": C, "transform_channels": T, "dropout": 0.0,
                 "fpn_channels": C if fpn else None, **head},
        "auxiliary": {"channels": C, "dropout": 0.0},
    }


def reference_baseline_cfg(kind: str, depth: int) -> dict:
    expansion = 4 if depth >= 50 else 1
    stages = [BASE_WIDTH * m * expansion for m in (1, 2, 4, 8)]
    cfg = reference_idrnet_cfg(depth, {})
    cfg["type"] = {"fcn": "FCN", "pspnet": "PSPNet", "deeplabv3": "Deeplabv3", "upernet": "UPerNet"}[kind]
    head = {"in_channels": stages[-1], "feats_channels": C, "dropout": 0.0}
    if kind == "pspnet":
        head["pool_scales"] = [1, 2, 3, 6]
    if kind == "deeplabv3":
        head["dilations"] = [1, 12, 24, 36]
    if kind == "upernet":
        head = {"in_channels_list": stages, "feats_channels": C, "pool_scales": [1, 2, 3, 6], "dropout": 0.0}
        cfg["backbone"]["selected_indices"] = (0, 1, 2, 3)
    cfg["head"] = head
    cfg["losses"] = {
        "loss_aux": {"type": "CrossEntropyLoss", "scale_factor": 0.4, "ignore_index": 255, "reduction": "mean"},
        "loss_cls": {"type": "CrossEntropyLoss", "scale_factor": 1.0, "ignore_index": 255, "reduction": "mean"},
    }
    return cfg


def our_baseline_config(kind: str, depth: int) -> dict:
    return {
        "num_classes": K, "ignore_index": 255,
        "backbone": {"name": f"resnet{depth}v1c", "output_stride": 8, "base_width": BASE_WIDTH},
        "head": {"type": kind, "feats_channels": C, "dropout": 0.0},
        "auxiliary": {"channels": C, "dropout": 0.0},
    }


SWIN = {"embed_dims": 16, "depths": [2, 2, 2, 2], "num_heads": [1, 2, 2, 4]}
SWIN_STAGES = [16, 32, 64, 128]


def reference_swin_cfg(head: dict) -> dict:
    cfg = reference_idrnet_cfg(18, head, (0, 1, 2, 3), fpn=True)
    cfg["backbone"] = {
        "type": "SwinTransformer", "structure_type": "swin_reduced_patch4_window12_384", "pretrained": False,
        "pretrain_img_size": 384, "patch_size": 4, "window_size": 12, "mlp_ratio": 4, "qkv_bias": True,
        "drop_path_rate": 0.0, "use_abs_pos_embed": False, "norm_cfg": {"type": "LayerNorm"},
        "act_cfg": {"type": "GELU"}, "selected_indices": (0, 1, 2, 3), **SWIN,
    }
    cfg["head"]["in_channels"] = SWIN_STAGES[-1]
    cfg["head"]["fpn"]["in_channels_list"] = SWIN_STAGES
    cfg["auxiliary"]["in_channels"] = SWIN_STAGES[2]
    return cfg


def our_swin_config(head: dict) -> dict:
    cfg = our_config(18, head, fpn=True)
    cfg["backbone"] = {"name": "swin_large_384", "output_stride": 32, "options": {
        "embed_dim": 16, "depths": [2, 2, 2, 2], "num_heads": [1, 2, 2, 4], "drop_path_rate": 0.0}}
    return cfg


# A reduced HRNetV2 (the W18-Small layout at widths 4/8/16/32, stage 1 at 8 channels), injected into the
# reference's arch table; 1.7.0's HRModule reads use_checkpoint before setting it, so it is set on the class.
HRNET_TINY = {
    "stage1": {"num_modules": 1, "num_branches": 1, "block": "BOTTLENECK", "num_blocks": (2,), "num_channels": (8,)},
    "stage2": {"num_modules": 1, "num_branches": 2, "block": "BASIC", "num_blocks": (2, 2), "num_channels": (4, 8)},
    "stage3": {"num_modules": 3, "num_branches": 3, "block": "BASIC", "num_blocks": (2, 2, 2), "num_channels": (4, 8, 16)},
    "stage4": {"num_modules": 2, "num_branches": 4, "block": "BASIC", "num_blocks": (2, 2, 2, 2),
               "num_channels": (4, 8, 16, 32)},
}


def reference_ocrnet_cfg(backbone: str) -> dict:
    cfg = reference_idrnet_cfg(18, {})
    cfg["type"] = "OCRNet"
    if backbone == "hrnet":
        cfg["backbone"] = {"type": "HRNet", "structure_type": "hrnetv2_tiny", "arch": "hrnetv2_tiny",
                           "pretrained": False, "selected_indices": (0, 0)}
        head_in = aux_in = 4 + 8 + 16 + 32
    else:
        head_in, aux_in = 8 * BASE_WIDTH, 4 * BASE_WIDTH
    cfg["head"] = {"in_channels": head_in, "feats_channels": C, "transform_channels": T, "scale": 1, "dropout": 0.0}
    cfg["auxiliary"] = {"in_channels": aux_in, "out_channels": C, "dropout": 0.0}
    cfg["losses"] = {
        "loss_aux": {"type": "CrossEntropyLoss", "scale_factor": 0.4, "ignore_index": 255, "reduction": "mean"},
        "loss_cls": {"type": "CrossEntropyLoss", "scale_factor": 1.0, "ignore_index": 255, "reduction": "mean"},
    }
    return cfg


def our_ocrnet_config(backbone: str) -> dict:
    if backbone == "hrnet":
        bb = {"name": "hrnetv2_w18_small", "options": {"width": 4, "stage1_channels": 8}}
    else:
        bb = {"name": "resnet18v1c", "output_stride": 8, "base_width": BASE_WIDTH}
    return {"num_classes": K, "ignore_index": 255, "backbone": bb, "auxiliary": None,
            "head": {"type": "ocrnet", "feats_channels": C, "transform_channels": T, "dropout": 0.0,
                     "regions_channels": C, "regions_dropout": 0.0}}


ASPP = {"coarse_context": {"type": "aspp", "dilations": [1, 12, 24, 36]}}
PPM = {"coarse_context": {"type": "ppm", "pool_scales": [1, 2, 3, 6]}}
# name: (reference cfg, our config); mirrors the structure of the official configs.
CASES = {
    "idrnet_fcn_r18": (reference_idrnet_cfg(18, {}), our_config(18, {})),
    "idrnet_fcn_r50": (reference_idrnet_cfg(50, {}), our_config(50, {})),
    "idrnet_aspp_after_r18": (
        reference_idrnet_cfg(18, {**ASPP, "use_sa_on_coarsecontext_after": True}),
        our_config(18, {"context": "aspp", "context_refiner": "after"}),
    ),
    "idrnet_aspp_before_r18": (
        reference_idrnet_cfg(18, {**ASPP, "use_sa_on_coarsecontext_before": True}),
        our_config(18, {"context": "aspp", "context_refiner": "before"}),
    ),
    "idrnet_ppm_oripr_r18": (
        reference_idrnet_cfg(18, {**PPM, "use_sa_on_coarsecontext_after": True, "force_stage1_use_oripr": True}),
        our_config(18, {"context": "ppm", "context_refiner": "after", "stage1_on_features": True}),
    ),
    "idrnet_ppm_r18": (reference_idrnet_cfg(18, PPM), our_config(18, {"context": "ppm"})),
    "idrnet_upernet_aspp_after_r18": (
        reference_idrnet_cfg(18, {**ASPP, "use_sa_on_coarsecontext_after": True}, (0, 1, 2, 3), fpn=True),
        our_config(18, {"context": "aspp", "context_refiner": "after"}, fpn=True),
    ),
    "idrnet_upernet_ppm_before_r18": (
        reference_idrnet_cfg(18, {**PPM, "use_sa_on_coarsecontext_before": True}, (0, 1, 2, 3), fpn=True),
        our_config(18, {"context": "ppm", "context_refiner": "before"}, fpn=True),
    ),
    "idrnet_upernet_swin_aspp_after": (
        reference_swin_cfg({**ASPP, "use_sa_on_coarsecontext_after": True}),
        our_swin_config({"context": "aspp", "context_refiner": "after"}),
    ),
    "idrnet_upernet_swin_ppm": (reference_swin_cfg(PPM), our_swin_config({"context": "ppm"})),
    **{f"{kind}_r18": (reference_baseline_cfg(kind, 18), our_baseline_config(kind, 18))
       for kind in ("fcn", "pspnet", "deeplabv3", "upernet")},
    "upernet_r50": (reference_baseline_cfg("upernet", 50), our_baseline_config("upernet", 50)),
    "ocrnet_r18": (reference_ocrnet_cfg("resnet"), our_ocrnet_config("resnet")),
    "ocrnet_hrnet": (reference_ocrnet_cfg("hrnet"), our_ocrnet_config("hrnet")),
}


def decode_images(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 → roughly normalised float images (the tests use the same formula)."""
    return (images_u8.float() - 127.5) / 64.0


def randomise_statistics(model: torch.nn.Module, generator: torch.Generator) -> None:
    """Non-trivial BatchNorm statistics and IDRNet statistics, so eval parity really tests them."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1, generator=generator)
                m.running_var.uniform_(0.5, 1.5, generator=generator)
                m.weight.uniform_(0.5, 1.5, generator=generator)
                m.bias.normal_(0, 0.1, generator=generator)
        if hasattr(model, "class_relations_mean"):
            k = model.class_relations_mean.shape[0]
            model.class_relations_mean.data = torch.randn(k, k, generator=generator) * 0.5 + torch.eye(k)
            model.class_relations_var.data = torch.randn(k, k, generator=generator) * 0.5 + torch.eye(k)
            model.selected_classes_counter.data = torch.rand(k, generator=generator) * 5 + 1e-6
            model.dl_cls_representations.data = torch.randn(*model.dl_cls_representations.shape, generator=generator)


def run_case(name: str, ref_cfg: dict, ours: dict) -> dict[str, torch.Tensor]:
    from ssseg.modules.models.backbones.hrnet import HRModule, HRNet
    from ssseg.modules.models.segmentors import BuildSegmentor
    from ssseg.modules.utils import SSSegInputStructure

    HRModule.use_checkpoint = False
    HRNet.arch_settings["hrnetv2_tiny"] = HRNET_TINY
    torch.manual_seed(0)
    model = BuildSegmentor(copy.deepcopy(ref_cfg), mode="TEST")
    generator = torch.Generator().manual_seed(1)
    randomise_statistics(model, generator)
    # relative_position_index buffers are constants that the converter drops; not worth storing.
    initial = {f"state.{k}": v.detach().clone() for k, v in model.state_dict().items()
               if not k.endswith("relative_position_index")}

    size = 384 if ref_cfg["backbone"]["type"] == "SwinTransformer" else 64
    # Inputs are stored as uint8 to keep the fixtures small; both sides decode them the same way.
    images_u8 = torch.randint(0, 256, (2, 3, size, size), generator=generator, dtype=torch.uint8)
    images = decode_images(images_u8)
    # Blocky targets: ~K classes per image plus an ignored band.
    coarse = torch.randint(0, K, (2, 1, 4, 4), generator=generator).float()
    targets = torch.nn.functional.interpolate(coarse, size=(size, size), mode="nearest")[:, 0].long()
    targets[:, :3, :] = 255
    model.eval()
    with torch.no_grad():
        eval_logits = model(SSSegInputStructure(images=images, mode="TEST")).seg_logits

    tensors = {**initial, "images_u8": images_u8, "targets_u8": targets.to(torch.uint8), "eval_logits": eval_logits}
    if ref_cfg["backbone"]["type"] in ("SwinTransformer", "HRNet"):
        # Also a size that is not a multiple of the patch or window size (padding order matters), or
        # whose HRNet branches have odd sizes (the fusions' resizes matter).
        odd_shape = (1, 3, 290, 411) if ref_cfg["backbone"]["type"] == "SwinTransformer" else (1, 3, 45, 61)
        odd_u8 = torch.randint(0, 256, odd_shape, generator=generator, dtype=torch.uint8)
        odd = decode_images(odd_u8)
        with torch.no_grad():
            tensors["odd_images_u8"] = odd_u8
            tensors["odd_eval_logits"] = model(SSSegInputStructure(images=odd, mode="TEST")).seg_logits
    model.train()
    deleted: list[int] = []
    if ref_cfg["type"] == "IDRNet":
        import ssseg.modules.models.segmentors.idrnet.idrnet as ref_module

        def forced_choice(population, weights=None, k=1):
            # Deterministic: the last present class of each image.
            deleted.append(population[-1])
            return [population[-1]]

        ref_module.random.choices = forced_choice
    data = SSSegInputStructure(images=images, seg_targets=targets, mode="TRAIN")
    out = model(data)
    if ref_cfg["backbone"]["type"] == "SwinTransformer":
        out.loss.backward()
    tensors["loss_total"] = out.loss.detach().reshape(1)
    for key, value in out.losses_log_dict.items():
        tensors[f"log.{key}"] = torch.tensor([float(value)])
    if deleted:
        tensors["deleted"] = torch.tensor(deleted)
    # The backbone's state after a step is plain BatchNorm; keep the heads' (IDRNet's statistics, BN).
    tensors.update({f"after.{k}": v.detach().clone() for k, v in model.state_dict().items()
                    if not k.startswith("backbone_net.")})
    if ref_cfg["backbone"]["type"] == "SwinTransformer":
        # Swin has no running statistics; check the training forward through its parameters' grads.
        tensors.update({f"grad.{k}": p.grad.detach().clone() for k, p in model.named_parameters()
                        if k.startswith("backbone_net.stages.1.") and p.grad is not None})
    return tensors


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    only = set(sys.argv[1:])
    for name, (ref_cfg, ours) in CASES.items():
        if only and name not in only:
            continue
        random.seed(0)
        tensors = run_case(name, ref_cfg, ours)
        tensors = {k: v.contiguous() for k, v in tensors.items()}
        save_file(tensors, OUT / f"{name}.safetensors", metadata={"config": json.dumps(ours)})
        print(f"{name}: {len(tensors)} tensors, eval logits {tuple(tensors['eval_logits'].shape)}")


if __name__ == "__main__":
    main()
