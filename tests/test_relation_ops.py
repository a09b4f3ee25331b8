"""The vectorised IDRNet operations against straightforward per-class loops."""

import torch
import torch.nn.functional as F

from idrnet.models import relation_ops as ops


def naive_context(feats, memory, logits, relations, present_override, remove_negative):
    """Per image, per class loops written from the method's description."""
    b, c, n = feats.shape
    k = logits.shape[1]
    labels = logits.argmax(1)
    out = torch.zeros(b, 2 * c, n)
    for i in range(b):
        classes = [j for j in range(k) if (labels[i] == j).any() and present_override[i, j]]
        pooled = []
        for j in classes:
            m = labels[i] == j
            w = torch.softmax(logits[i, j, m], 0)
            pooled.append(torch.cat([(feats[i][:, m] * w).sum(1), memory[j]]))
        pooled = torch.stack(pooled)
        a = relations[:, classes].clone()
        if remove_negative:
            a[a <= 0] = -1e16
        a = torch.softmax(a, 1)[classes]
        enhanced = a @ pooled
        for row, j in enumerate(classes):
            out[i][:, labels[i] == j] = enhanced[row].unsqueeze(1)
    return out


def test_relation_context_matches_loops():
    g = torch.Generator().manual_seed(0)
    b, c, n, k = 3, 5, 40, 7
    feats = torch.randn(b, c, n, generator=g)
    logits = torch.randn(b, k, n, generator=g) * 3
    memory = torch.randn(k, c, generator=g)
    relations = torch.randn(k, k, generator=g)
    labels = logits.argmax(1)
    masks = ops.class_masks(labels, k)
    present = masks.any(2)
    # delete one present class in image 0
    deleted = labels[0, 0].item()
    keep = present.clone()
    keep[0, deleted] = False
    pooled = ops.pool_classes(feats, logits, masks)
    for remove_negative in (True, False):
        ours = ops.relation_context(pooled, memory, relations, keep, labels, remove_negative)
        expected = naive_context(feats, memory, logits, relations, keep, remove_negative)
        torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)
    assert torch.all(ours[0][:, labels[0] == deleted] == 0)


def test_identity_relations_with_negative_removal_keep_each_class_to_itself():
    g = torch.Generator().manual_seed(1)
    k, c = 4, 3
    pooled = torch.randn(1, k, c, generator=g)
    memory = torch.randn(k, c, generator=g)
    labels = torch.arange(k).repeat(3).unsqueeze(0)
    present = torch.ones(1, k, dtype=torch.bool)
    ctx = ops.relation_context(pooled, memory, torch.eye(k), present, labels, True)
    expected = torch.cat([pooled[0], memory], 1)[labels[0]].T
    torch.testing.assert_close(ctx[0], expected)


def test_pool_classes_absent_class_is_zero_and_finite():
    feats = torch.randn(1, 2, 5)
    logits = torch.zeros(1, 3, 5)
    logits[0, 1] = 1.0  # class 1 wins everywhere; 0 and 2 are absent
    pooled = ops.pool_classes(feats, logits, ops.class_masks(logits.argmax(1), 3))
    assert torch.isfinite(pooled).all()
    assert torch.all(pooled[0, 0] == 0) and torch.all(pooled[0, 2] == 0)
    torch.testing.assert_close(pooled[0, 1], feats[0].mean(1))


def test_sequential_ema_equals_one_image_after_another():
    g = torch.Generator().manual_seed(2)
    k, b, m = 5, 4, 0.1
    matrix = torch.randn(k, k, generator=g)
    rows = torch.tensor([2, 2, 0, 2])  # three images delete class 2
    values = torch.randn(b, k, generator=g)
    valid = torch.rand(b, k, generator=g) > 0.3
    expected = matrix.clone()
    for i in range(b):
        for j in range(k):
            if valid[i, j]:
                expected[rows[i], j] = m * values[i, j] + (1 - m) * expected[rows[i], j]
    ops.sequential_ema_(matrix, rows, values, valid, m)
    torch.testing.assert_close(matrix, expected)


def test_per_class_loss_stats_match_masked_mean_and_var():
    g = torch.Generator().manual_seed(3)
    losses = torch.rand(2, 6, 7, generator=g)
    targets = torch.randint(0, 4, (2, 6, 7), generator=g)
    valid = torch.rand(2, 6, 7, generator=g) > 0.2
    count, mean, var = ops.per_class_loss_stats(losses, targets, valid, 4)
    for i in range(2):
        for c in range(4):
            sel = losses[i][(targets[i] == c) & valid[i]]
            assert count[i, c] == sel.numel()
            if sel.numel():
                torch.testing.assert_close(mean[i, c].float(), sel.mean())
                torch.testing.assert_close(var[i, c].float(), sel.var(unbiased=False))


def test_upsampled_class_sums_equal_upsample_then_mean():
    g = torch.Generator().manual_seed(4)
    for (h, w, big_h, big_w) in [(4, 6, 32, 48), (5, 7, 37, 50), (1, 3, 8, 9)]:
        feats = torch.randn(2, 3, h, w, generator=g)
        targets = torch.randint(0, 5, (2, big_h, big_w), generator=g)
        valid = torch.rand(2, big_h, big_w, generator=g) > 0.1
        sums, counts = ops.upsampled_class_sums(feats, targets, valid, 5, align_corners=False)
        up = F.interpolate(feats, size=(big_h, big_w), mode="bilinear", align_corners=False).permute(0, 2, 3, 1)
        for c in range(5):
            sel = up[(targets == c) & valid]
            assert counts[c] == sel.shape[0]
            torch.testing.assert_close(sums[c], sel.sum(0), rtol=1e-5, atol=1e-4)


def test_sample_deletions_prefers_rarely_deleted_and_is_seeded():
    present = torch.tensor([[True, True, False, True]] * 3)
    counter = torch.tensor([1e-6, 100.0, 1e-6, 100.0])
    g1 = torch.Generator().manual_seed(5)
    g2 = torch.Generator().manual_seed(5)
    a = ops.sample_deletions(present, counter, g1)
    b = ops.sample_deletions(present, counter, g2)
    assert torch.equal(a, b)
    assert torch.all(a == 0)  # the only present class never deleted so far
