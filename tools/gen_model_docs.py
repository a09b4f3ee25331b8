"""Regenerate docs/models.md from the model zoo: python tools/gen_model_docs.py"""

from pathlib import Path

from idrnet.models.zoo import MODEL_ZOO

HEADER = """# Model zoo

Every entry can be built with `idrnet.create_model(NAME)` and loaded with its official
SSSegmentation checkpoint: `idrnet.create_model(NAME, checkpoint=True)` downloads it once into
`~/.cache/idrnet` (or `$IDRNET_CACHE`), or pass a local `.pth` path. `idrnet convert NAME.pth
NAME.safetensors` converts it to our format. mIoU values are the published ones (single scale unless
marked; "ms+flip" = multi-scale with flip), not measured by us. Parameter counts include IDRNet's four
statistic tensors, as the official counts do; a test checks that ours equal them.

Baselines are the same framework and recipe without IDRNet; `idrnet.get_entry(NAME).baseline` names
an IDRNet model's baseline. Baselines without a published checkpoint share the recipe only.

OCRNet (15 official configs: HRNetV2-W18-Small, W18, W48 and ResNet-50/101-D8 on ADE20K, Cityscapes and
VOC) loads its official checkpoints; its parameter counts equal the reference's (tested). The
`idrnet_ocrnet_*` entries are ours — IDRNet on OCRNet, with OCR's augmented representation as IDRNet's
coarse context (docs/design.md) — and have neither published results nor checkpoints: train them with
`configs/zoo/idrnet_ocrnet_*.yaml` (the OCRNet recipe).

| name | dataset | framework | published mIoU | params | official checkpoint |
|---|---|---|---|---|---|
"""


def fmt_miou(m: dict) -> str:
    labels = {"ss": "", "flip": "flip ", "ms_flip": "ms+flip "}
    return " / ".join(f"{labels[k]}{v:.2f}" for k, v in m.items()) or "–"


def main() -> None:
    rows = []
    for name in sorted(MODEL_ZOO, key=lambda n: (not n.startswith("idrnet"), MODEL_ZOO[n].dataset, n)):
        e = MODEL_ZOO[name]
        params = f"{e.params_total:,}" if e.params_total else "–"
        ckpt = f"[.pth]({e.checkpoint_url})" if e.checkpoint_url else "–"
        rows.append(f"| `{name}` | {e.dataset} | {e.framework} | {fmt_miou(e.published_miou)} | {params} | {ckpt} |")
    out = Path(__file__).resolve().parents[1] / "docs" / "models.md"
    out.write_text(HEADER + "\n".join(rows) + "\n")
    print(f"wrote {out} ({len(rows)} models)")


if __name__ == "__main__":
    main()
