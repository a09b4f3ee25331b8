"""HRNetV2 (W18-Small, W18, W32, W40, W48), equal to the reference's HRNet: four parallel branches
exchanging information after every module, bilinear upsampling in the fusions, and the segmentation
output of HRNetV2 — every branch upsampled to the finest and concatenated.

Parameter names follow the reference (and open-mmlab's ImageNet files), so both load without renaming.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import InputError


@dataclass(frozen=True)
class StageSpec:
    """One stage: how many HR modules, the block type, blocks per branch and branch widths."""

    modules: int
    block: str  # "basic" or "bottleneck"
    blocks: tuple[int, ...]
    widths: tuple[int, ...]


def _arch(stage1_blocks: int, blocks: int, modules: tuple[int, int], width: int, stage1_channels: int = 64) -> tuple[StageSpec, ...]:
    w = (width, 2 * width, 4 * width, 8 * width)
    return (
        StageSpec(1, "bottleneck", (stage1_blocks,), (stage1_channels,)),
        StageSpec(1, "basic", (blocks,) * 2, w[:2]),
        StageSpec(modules[0], "basic", (blocks,) * 3, w[:3]),
        StageSpec(modules[1], "basic", (blocks,) * 4, w),
    )


# arch → (stage-1 blocks, blocks per branch, modules in stages 3 and 4, width)
ARCHS = {
    "hrnetv2_w18_small": (2, 2, (3, 2), 18),
    "hrnetv2_w18": (4, 4, (4, 3), 18),
    "hrnetv2_w32": (4, 4, (4, 3), 32),
    "hrnetv2_w40": (4, 4, (4, 3), 40),
    "hrnetv2_w48": (4, 4, (4, 3), 48),
}

# open-mmlab's ImageNet weights of each arch (the reference's defaults)
PRETRAINED_URLS = {
    "hrnetv2_w18_small": "https://download.openmmlab.com/pretrain/third_party/hrnetv2_w18_small-b5a04e21.pth",
    "hrnetv2_w18": "https://download.openmmlab.com/pretrain/third_party/hrnetv2_w18-00eb2006.pth",
    "hrnetv2_w32": "https://download.openmmlab.com/pretrain/third_party/hrnetv2_w32-dc9eeb4f.pth",
    "hrnetv2_w40": "https://download.openmmlab.com/pretrain/third_party/hrnetv2_w40-ed0b031c.pth",
    "hrnetv2_w48": "https://download.openmmlab.com/pretrain/third_party/hrnetv2_w48-d2186c55.pth",
}


def _conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, relu: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with a residual connection."""

    expansion = 1

    def __init__(self, cin: int, planes: int, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class Bottleneck(nn.Module):
    """1×1 → 3×3 → 1×1 (×4 channels) with a residual connection."""

    expansion = 4

    def __init__(self, cin: int, planes: int, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


def _residual_layer(block: type, cin: int, planes: int, count: int) -> nn.Sequential:
    out = planes * block.expansion
    downsample = _conv_bn(cin, out, 1) if cin != out else None
    return nn.Sequential(block(cin, planes, downsample), *(block(out, planes) for _ in range(count - 1)))


class HRModule(nn.Module):
    """Parallel branches, then every output branch sums all branches brought to its resolution
    (1×1 conv + bilinear upsampling from coarser ones, strided 3×3 convs from finer ones)."""

    def __init__(self, block: type, blocks: tuple[int, ...], in_channels: list[int], widths: tuple[int, ...]) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            _residual_layer(block, in_channels[i], widths[i], blocks[i]) for i in range(len(widths)))
        channels = [w * block.expansion for w in widths]
        self.out_channels = channels
        n = len(widths)
        self.fuse_layers = None
        if n > 1:
            self.fuse_layers = nn.ModuleList(
                nn.ModuleList(self._fuse(channels, src, dst) for src in range(n)) for dst in range(n))
        self.relu = nn.ReLU(inplace=True)

    @staticmethod
    def _fuse(channels: list[int], src: int, dst: int) -> nn.Module:
        if src == dst:
            # Identity, not None: no parameters either (the same state dict), and TorchScript can iterate it
            return nn.Identity()
        if src > dst:  # coarser → finer
            return nn.Sequential(nn.Conv2d(channels[src], channels[dst], 1, bias=False), nn.BatchNorm2d(channels[dst]),
                                 nn.Upsample(scale_factor=2 ** (src - dst), mode="bilinear", align_corners=False))
        steps = []
        for k in range(dst - src):  # finer → coarser: one strided conv per halving, ReLU between them
            last = k == dst - src - 1
            steps.append(_conv_bn(channels[src], channels[dst] if last else channels[src], 3, 2, relu=not last))
        return nn.Sequential(*steps)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        # Loops over module lists by enumerate (not zip with tensors): TorchScript can compile them
        outs: list[torch.Tensor] = []
        for i, branch in enumerate(self.branches):
            outs.append(branch(xs[i]))
        xs = outs
        if self.fuse_layers is None:
            return xs
        outputs: list[torch.Tensor] = []
        for dst, layers in enumerate(self.fuse_layers):
            total: torch.Tensor | None = None
            for src, layer in enumerate(layers):  # summed in branch order, as the reference does
                y = layer(xs[src])
                if src > dst:
                    # As the reference: the upsampled map is resized to the target's size once more. That is
                    # the identity for even sizes and corrects odd ones; done always, so exported graphs
                    # stay right at every input size.
                    y = F.interpolate(y, size=xs[dst].shape[2:], mode="bilinear", align_corners=False)
                total = y if total is None else total + y
            assert total is not None
            outputs.append(self.relu(total))
        return outputs


class Transition(nn.ModuleList):
    """One layer per branch of the next stage: each existing branch through its own layer (``Identity``
    where the width stays), a new, coarser branch from the coarsest existing one."""

    def forward(self, branches: list[torch.Tensor]) -> list[torch.Tensor]:
        return [layer(branches[i] if i < len(branches) else branches[-1]) for i, layer in enumerate(self)]


class HRStage(nn.Sequential):
    """HRModules in sequence; each takes and gives the list of branches (Sequential's own forward passes a
    single tensor, as TorchScript types it)."""

    def forward(self, branches: list[torch.Tensor]) -> list[torch.Tensor]:  # type: ignore[override]
        for module in self:
            branches = module(branches)
        return branches


class HighResolutionNet(nn.Module):
    """The HRNetV2 network: stem, four stages, and the concatenated multi-resolution output (1/4 of the
    input). ``width`` and ``stage1_channels`` override the arch's (reduced-width test models)."""

    def __init__(self, arch: str = "hrnetv2_w18", width: int | None = None, stage1_channels: int = 64) -> None:
        super().__init__()
        if arch not in ARCHS:
            raise InputError(f"unknown HRNet arch {arch!r}; expected one of {', '.join(ARCHS)}")
        stage1_blocks, blocks, modules, default_width = ARCHS[arch]
        specs = _arch(stage1_blocks, blocks, modules, width or default_width, stage1_channels)
        self.arch = arch
        self.conv1 = nn.Conv2d(3, 64, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = nn.Conv2d(64, 64, 3, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = _residual_layer(Bottleneck, 64, specs[0].widths[0], specs[0].blocks[0])
        previous = [specs[0].widths[0] * Bottleneck.expansion]
        for index, spec in enumerate(specs[1:], start=1):
            block = BLOCKS[spec.block]
            channels = [w * block.expansion for w in spec.widths]
            setattr(self, f"transition{index}", self._transition(previous, channels))
            stage = []
            in_channels = list(channels)
            for _ in range(spec.modules):
                module = HRModule(block, spec.blocks, in_channels, spec.widths)
                in_channels = module.out_channels
                stage.append(module)
            setattr(self, f"stage{index + 1}", HRStage(*stage))
            previous = in_channels
        self.out_channels = sum(previous)

    @staticmethod
    def _transition(previous: list[int], current: list[int]) -> Transition:
        layers: list[nn.Module] = []
        for i, cout in enumerate(current):
            if i < len(previous):
                layers.append(_conv_bn(previous[i], cout, 3, 1, relu=True) if previous[i] != cout else nn.Identity())
            else:  # a new, coarser branch from the coarsest existing one
                steps = []
                for j in range(i + 1 - len(previous)):
                    cin = previous[-1]
                    steps.append(_conv_bn(cin, cout if j == i - len(previous) else cin, 3, 2, relu=True))
                layers.append(nn.Sequential(*steps))
        return Transition(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` → ``(B, Σ branch widths, H/4, W/4)``."""
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        branches = [self.layer1(x)]
        # By name (the names of the reference's files): TorchScript cannot look attributes up by a computed one
        branches = self.stage2(self.transition1(branches))
        branches = self.stage3(self.transition2(branches))
        branches = self.stage4(self.transition3(branches))
        size = branches[0].shape[2:]
        outputs = [branches[0]]
        for b in branches[1:]:
            outputs.append(F.interpolate(b, size=size, mode="bilinear", align_corners=False))
        return torch.cat(outputs, dim=1)


class HRNetV2(nn.Module):
    """HRNetV2 backbone (the network is ``body``, named as in the reference and open-mmlab's files).

    ``forward`` returns four references to one tensor, the concatenated output, so that heads reading
    the last stage and the auxiliary head reading the third both get it — the reference's OCRNet configs
    select it twice. ``pretrained``: ``True`` for open-mmlab's ImageNet file of the arch, or a path/URL.
    """

    def __init__(self, arch: str = "hrnetv2_w18", pretrained: bool | str = False, width: int | None = None,
                 stage1_channels: int = 64) -> None:
        super().__init__()
        self.arch = arch
        self.body = HighResolutionNet(arch, width, stage1_channels)
        self.channels = (self.body.out_channels,) * 4
        if pretrained:
            from ..pretrained import load_hrnet_imagenet

            load_hrnet_imagenet(self.body, PRETRAINED_URLS[arch] if pretrained is True else str(pretrained))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Four references to the concatenated multi-resolution features."""
        return [self.body(x)] * 4
