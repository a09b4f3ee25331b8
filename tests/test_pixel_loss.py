import pytest
import torch
import torch.nn.functional as F

from idrnet.models.pixel_loss import (
    upsampled_cross_entropy,
    upsampled_cross_entropy_with_pixels,
)


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


def test_fused_mean_loss_returns_the_pixel_losses_it_averages():
    g = torch.Generator().manual_seed(1)
    targets = torch.randint(0, 6, (2, 17, 23), generator=g)
    targets[1, 5:] = 255
    logits = torch.randn(2, 6, 5, 7, generator=g)
    mean, pixels = upsampled_cross_entropy_with_pixels(logits, targets, 255, False)
    plain = _plain(logits, targets, 255, False, "none")
    assert pixels.shape == targets.shape and not pixels.requires_grad
    torch.testing.assert_close(pixels, plain, rtol=1e-5, atol=1e-6)  # 0 where ignored, as cross_entropy
    torch.testing.assert_close(mean, plain.sum() / (targets != 255).sum(), rtol=1e-6, atol=1e-6)


def test_fused_loss_is_exact_where_the_target_probability_underflows():
    # A logit gap of 200 makes the target's softmax probability 0 in float32; the loss must stay 200.
    logits = torch.zeros(1, 3, 2, 2)
    logits[:, 0] = 200.0
    targets = torch.full((1, 4, 4), 1)
    mean, pixels = upsampled_cross_entropy_with_pixels(logits, targets)
    torch.testing.assert_close(pixels, torch.full((1, 4, 4), 200.0))
    assert torch.isfinite(mean)


def test_fused_loss_edge_cases():
    logits = torch.randn(1, 4, 3, 3, requires_grad=True)
    all_ignored = torch.full((1, 6, 6), 255)
    loss = upsampled_cross_entropy(logits, all_ignored, 255)
    loss.backward()
    assert loss.item() == 0 and torch.count_nonzero(logits.grad) == 0
    with pytest.raises(ValueError, match="target class 9 is out of range for 4 classes"):
        upsampled_cross_entropy(logits, torch.full((1, 6, 6), 9), 255)
    half = torch.randn(1, 4, 3, 3, dtype=torch.bfloat16, requires_grad=True)
    loss = upsampled_cross_entropy(half, torch.zeros(1, 6, 6, dtype=torch.long))
    loss.backward()
    assert loss.dtype == torch.float32 and half.grad.dtype == torch.bfloat16
