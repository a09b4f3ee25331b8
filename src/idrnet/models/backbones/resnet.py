"""ResNet-V1c (deep 3×3 stem) at output stride 8/16/32, equal to the reference's ResNet."""

from __future__ import annotations

from timm.models.resnet import BasicBlock

from ...errors import InputError
from .timm_backbone import TimmBackbone

DEPTHS = (18, 34, 50, 101, 152)


class ResNetV1c(TimmBackbone):
    """timm's ResNet with the V1c stem (3×3 convs 3→32→32→64) and contracted dilation.

    timm dilates the first block of a dilated stage by the previous stage's rate, which is exactly the
    reference's ``contract_dilation``. The reference's BasicBlock (ResNet-18/34) never dilates its
    second conv, so that conv is reset to dilation 1 here.
    """

    def __init__(
        self, depth: int = 50, output_stride: int = 8, pretrained: bool | str = False, base_width: int = 64
    ) -> None:
        if depth not in DEPTHS:
            raise InputError(f"ResNet depth {depth} is not supported: expected one of {DEPTHS}")
        if output_stride not in (8, 16, 32):
            raise InputError(f"ResNet output_stride {output_stride}: expected 8, 16 or 32")
        # timm's own V1c weights are named resnet50c etc.; a string selects such a tag.
        super().__init__(
            f"resnet{depth}",
            out_indices=(1, 2, 3, 4),
            output_stride=output_stride,
            pretrained=False,
            stem_type="deep",
            stem_width=base_width // 2,
            channels=tuple(base_width * m for m in (1, 2, 4, 8)),
        )
        for module in self.body.modules():
            if isinstance(module, BasicBlock):
                module.conv2.dilation = (1, 1)
                module.conv2.padding = (1, 1)
        self.depth = depth
        self.output_stride = output_stride
        if pretrained:
            from ..pretrained import load_resnet_v1c_imagenet

            load_resnet_v1c_imagenet(self, pretrained)
