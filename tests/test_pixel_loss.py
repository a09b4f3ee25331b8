import torch
import torch.nn.functional as F

from idrnet.models.pixel_loss import upsampled_cross_entropy


def _plain(logits, targets, ignore_index, align_corners, reduction):
    up = F.interpolate(logits, size=targets.shape[-2:], mode="bilinear", align_corners=align_corners)
    return F.cross_entropy(up, targets, ignore_index=ignore_index, reduction=reduction)


def test_upsampled_cross_entropy_equals_resize_then_cross_entropy():
    g = torch.Generator().manual_seed(0)
    targets = torch.randint(0, 5, (2, 24, 20), generator=g)
    targets[0, :3] = 255
    for align_corners in (False, True):
        for reduction in ("mean", "none"):
            a = torch.randn(2, 5, 6, 5, generator=g, requires_grad=True)
            b = a.detach().clone().requires_grad_(True)
            ours = upsampled_cross_entropy(a, targets, 255, align_corners, reduction)
            plain = _plain(b, targets, 255, align_corners, reduction)
            assert ours.shape == plain.shape
            torch.testing.assert_close(ours, plain, rtol=1e-6, atol=1e-6)
            ours.sum().backward()
            plain.sum().backward()
            torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-6)
    assert upsampled_cross_entropy(torch.randn(1, 3, 2, 2), torch.zeros(1, 4, 4, dtype=torch.long)).dim() == 0
