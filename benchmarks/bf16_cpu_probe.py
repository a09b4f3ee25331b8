"""Does bf16 pay off on this CPU? Times one ResNet-50-sized 3×3 convolution (256→256 channels, 48×48,
batch 1) in fp32 and under bf16 autocast, eager, and says whether PyTorch sees bf16 instructions
(AVX512-BF16 or AMX). On a CPU without them PyTorch emulates bf16 and the ratio is far above 1.

    python benchmarks/bf16_cpu_probe.py [--threads 2] [--runs 5]
"""

from __future__ import annotations

import argparse

from timing import median_ms  # beside this script


def main() -> int:
    import torch

    from idrnet.deploy.runtime import cpu_has_bf16

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    conv = torch.nn.Conv2d(256, 256, 3, padding=1).eval()
    x = torch.randn(1, 256, 48, 48)

    def timed(bf16: bool) -> float:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return median_ms(lambda: conv(x), args.runs, warmup=1) / 1000

    fp32, bf16 = timed(False), timed(True)
    flags = {name: bool(getattr(torch.cpu, f"_is_{name}_supported", lambda: None)())
             for name in ("avx512", "avx512_bf16", "amx_tile", "vnni")}
    print(f"CPU capability {torch.backends.cpu.get_cpu_capability()}, {flags}, native bf16 (idrnet): "
          f"{cpu_has_bf16()}, {args.threads} threads")
    print(f"3×3 conv 256→256 @ 48×48: fp32 {1000 * fp32:.1f} ms, bf16 autocast {1000 * bf16:.1f} ms "
          f"(bf16 / fp32 ×{bf16 / fp32:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
