"""Behaviour of the IDRNet head beyond reference parity."""

import pytest
import torch

from idrnet import build_model, training_losses
from idrnet.models.heads import IDRNetHead

from tiny import IDRNET_VARIANTS, tiny_config


def batch(b=2, size=48, k=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(b, 3, size, size, generator=g)
    coarse = torch.randint(0, k, (b, 1, 4, 4), generator=g).float()
    targets = torch.nn.functional.interpolate(coarse, size=(size, size))[:, 0].long()
    targets[:, :2] = 255
    return images, targets


@pytest.mark.parametrize("variant", sorted(IDRNET_VARIANTS))
def test_eval_forward_returns_logits_at_input_size(variant):
    model = build_model(tiny_config(**IDRNET_VARIANTS[variant])).eval()
    images, _ = batch(size=50)
    with torch.no_grad():
        out = model(images)
    assert isinstance(out, torch.Tensor)
    assert out.shape == (2, 5, 50, 50)


def test_anchor_and_intervened_pass_share_dropout_masks():
    """Deleting a class that is not predicted changes nothing, so with identical dropout masks the
    loss rise is exactly zero and the relation row only decays."""
    torch.manual_seed(0)
    model = build_model(tiny_config(dropout=0.5)).train()
    head: IDRNetHead = model.decode_head
    images, targets = batch()
    out = model.forward_train(images)
    present = out.head_state.masks.any(2)
    absent = (~present).nonzero()
    if absent.numel() == 0:
        pytest.skip("every class predicted in both images")
    # one absent class per image (fall back to the first image's absent class)
    deleted = torch.stack([absent[absent[:, 0] == i, 1][0] if (absent[:, 0] == i).any() else absent[0, 1]
                           for i in range(2)])
    if present[torch.arange(2), deleted].any():
        pytest.skip("no class absent from both images")
    before = head.class_relations_mean.clone()
    head.update_statistics(out.head_state, targets, 255, deleted_classes=deleted)
    rows = deleted.unique()
    labelled = targets[targets != 255].unique()
    for r in rows:
        n = int((deleted == r).sum())
        expected = before[r].clone()
        expected[labelled] *= 0.9 ** n
        torch.testing.assert_close(head.class_relations_mean[r], expected)


def test_reused_main_losses_give_the_same_statistics_as_recomputing_them():
    """training_losses hands the main loss's per-pixel values to the diagnostics as their anchor;
    the statistics must be bit-identical to the head computing the anchor itself."""
    images, targets = batch()
    deleted = torch.tensor([1, 2])
    results = []
    for reuse in (True, False):
        torch.manual_seed(0)
        model = build_model(tiny_config(dropout=0.5)).train()
        if reuse:
            training_losses(model, images, targets, deleted_classes=deleted)
        else:
            model.decode_head.update_statistics(model.forward_train(images).head_state, targets, 255,
                                                deleted_classes=deleted)
        head = model.decode_head
        results.append([head.class_relations_mean.clone(), head.class_relations_var.clone()])
    assert not torch.equal(results[0][0], torch.eye(5))
    for reused, recomputed in zip(*results):
        assert torch.equal(reused, recomputed)


@pytest.mark.parametrize("updates", [True, False])
def test_intervention_bn_update_option(updates):
    torch.manual_seed(0)
    model = build_model(tiny_config(intervention_updates_bn_stats=updates)).train()
    head = model.decode_head
    images, targets = batch()
    out = model.forward_train(images)
    bn = head.decoder_stage2[1]
    after_anchor = bn.running_mean.clone()
    head.update_statistics(out.head_state, targets, 255)
    assert torch.equal(bn.running_mean, after_anchor) is (not updates)


def test_training_updates_statistics_and_counter():
    torch.manual_seed(0)
    model = build_model(tiny_config()).train()
    head = model.decode_head
    images, targets = batch()
    counter = head.selected_classes_counter.clone()
    loss = training_losses(model, images, targets)["total"]
    loss.backward()
    assert torch.isclose(head.selected_classes_counter.sum() - counter.sum(), torch.tensor(2.0))
    assert not torch.equal(head.class_relations_mean, torch.eye(5))
    labelled = targets[targets != 255].unique()
    assert torch.all(head.dl_cls_representations[labelled].abs().sum(1) > 0)
    for name, p in model.named_parameters():
        assert p.grad is not None, name


def test_deletion_sampling_reproducible_with_generator():
    images, targets = batch()
    picks = []
    for _ in range(2):
        torch.manual_seed(0)
        model = build_model(tiny_config()).train()
        model.decode_head.deletion_generator = torch.Generator().manual_seed(123)
        out = model.forward_train(images)
        picks.append(model.decode_head.update_statistics(out.head_state, targets, 255))
    assert torch.equal(picks[0], picks[1])


def test_eval_path_traces_without_data_dependent_control_flow():
    """A trace recorded on one input gives the same answer on another with other classes present."""
    model = build_model(tiny_config(context="aspp", context_refiner="after", fpn_channels=16)).eval()
    with torch.no_grad():
        model.decode_head.class_relations_mean.copy_(torch.randn(5, 5))
        model.decode_head.dl_cls_representations.normal_()
        a, _ = batch(b=1, size=48, seed=1)
        b, _ = batch(b=1, size=48, seed=2)
        traced = torch.jit.trace(model, a, check_trace=False)
        torch.testing.assert_close(traced(b), model(b), rtol=1e-4, atol=1e-5)


def test_torch_export_with_dynamic_size():
    model = build_model(tiny_config(context="ppm")).eval()
    x, _ = batch(b=1, size=64)
    h = torch.export.Dim("h", min=4, max=128)
    w = torch.export.Dim("w", min=4, max=128)
    exported = torch.export.export(model, (x,), dynamic_shapes={"images": {2: 8 * h, 3: 8 * w}})
    y, _ = batch(b=1, size=80)
    with torch.no_grad():
        torch.testing.assert_close(exported.module()(y), model(y), rtol=1e-4, atol=1e-5)


def test_every_head_in_heads_builds_from_its_typed_config():
    """HEADS is the one list of heads: each builds from its config through DecodeHead.from_config (every
    config field is an __init__ argument of the same name) and runs."""
    import dataclasses
    import inspect

    from idrnet.models.heads import HEADS

    for head_type, (config_class, head_class) in HEADS.items():
        model = build_model(tiny_config(head_type)).eval()
        assert isinstance(model.decode_head, head_class) and isinstance(model.config.head, config_class)
        with torch.no_grad():
            assert model(torch.randn(1, 3, 64, 64)).shape == (1, 5, 64, 64), head_type
        fields = {f.name for f in dataclasses.fields(config_class)} - {"type"}
        if "from_config" not in vars(head_class):  # the generic builder: every field is an argument
            assert fields <= set(inspect.signature(head_class.__init__).parameters), head_type
