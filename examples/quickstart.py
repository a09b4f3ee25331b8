"""A first look at IDRNet on the CPU, in under a minute.

Trains a small IDRNet-FCN (ResNet-18-V1c, reduced width) for a few steps on a toy scene in which the
class of one object depends on what else is in the image, then prints what the deletion diagnostics
learnt: how much deleting each class raised the loss on the others (the relation matrix).
"""

import torch

import idrnet
from idrnet.config import from_dict

torch.manual_seed(0)
torch.set_num_threads(2)
config = from_dict(idrnet.ModelConfig, {
    "num_classes": 4,
    "backbone": {"name": "resnet18v1c", "output_stride": 8, "base_width": 16},
    "head": {"type": "idrnet", "feats_channels": 32, "transform_channels": 16},
    "auxiliary": {"channels": 32},
})
model = idrnet.build_model(config).train()
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)


def toy_batch(n=4, size=64):
    """Background 0; a square that is class 1 when a stripe (class 3) is present, else class 2."""
    images = torch.randn(n, 3, size, size) * 0.2
    targets = torch.zeros(n, size, size, dtype=torch.long)
    for i in range(n):
        with_stripe = i % 2 == 0
        y, x = torch.randint(8, size - 24, (2,)).tolist()
        images[i, :, y:y + 16, x:x + 16] += 1.0
        targets[i, y:y + 16, x:x + 16] = 1 if with_stripe else 2
        if with_stripe:
            images[i, 0, :, :4] += 2.0
            targets[i, :, :4] = 3
    return images, targets


for step in range(30):
    images, targets = toy_batch()
    losses = idrnet.training_losses(model, images, targets)
    optimizer.zero_grad()
    losses["total"].backward()
    optimizer.step()
    if step % 10 == 0 or step == 29:
        print(f"step {step:2d}  " + "  ".join(f"{k} {v.item():.3f}" for k, v in losses.items()))

head = model.decode_head
print("\nrelation matrix (row: deleted class, column: class whose loss it changed):")
print(head.class_relations_mean)
print("deletions per class:", head.selected_classes_counter.round().tolist())
model.eval()
with torch.no_grad():
    images, targets = toy_batch()
    accuracy = (model(images).argmax(1) == targets).float().mean().item()
print(f"pixel accuracy after 30 steps: {accuracy:.3f}")
print("\nOfficial checkpoints: idrnet.create_model(NAME, checkpoint=True); see docs/models.md")
