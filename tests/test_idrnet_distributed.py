"""IDRNet statistics under DDP: averaged across processes in place, identical on every rank."""

import os

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from idrnet import build_model, training_losses

from tiny import tiny_config


def make_batch(rank):
    g = torch.Generator().manual_seed(100 + rank)
    images = torch.randn(2, 3, 48, 48, generator=g)
    coarse = torch.randint(0, 5, (2, 1, 4, 4), generator=g).float()
    targets = torch.nn.functional.interpolate(coarse, size=(48, 48))[:, 0].long()
    return images, targets


def fresh_model():
    torch.manual_seed(0)
    return build_model(tiny_config()).train()


STATS = ("class_relations_mean", "class_relations_var", "selected_classes_counter", "dl_cls_representations")


def worker(rank, world, init_file, out_dir):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    torch.set_num_threads(1)
    model = fresh_model()
    buffers_before = {n: getattr(model.decode_head, n) for n in STATS}
    images, targets = make_batch(rank)
    training_losses(model, images, targets, deleted_classes=torch.tensor([rank, 4]))
    head = model.decode_head
    for n in STATS:
        assert getattr(head, n) is buffers_before[n]  # updated in place, same tensor objects
    torch.save({n: getattr(head, n).clone() for n in STATS}, os.path.join(out_dir, f"rank{rank}.pt"))
    dist.destroy_process_group()


def test_two_process_statistics_are_the_mean_of_each_process(tmp_path):
    expected = {n: torch.zeros_like(getattr(fresh_model().decode_head, n)) for n in STATS}
    for rank in range(2):
        model = fresh_model()
        images, targets = make_batch(rank)
        training_losses(model, images, targets, deleted_classes=torch.tensor([rank, 4]))
        for n in STATS:
            expected[n] += getattr(model.decode_head, n) / 2
    mp.spawn(worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    results = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    for n in STATS:
        assert torch.equal(results[0][n], results[1][n]), n
        torch.testing.assert_close(results[0][n], expected[n], rtol=1e-5, atol=1e-6)
