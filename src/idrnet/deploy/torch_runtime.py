"""PyTorch inference paths: eager or ``torch.compile``, in fp32 or under bf16 autocast."""

from __future__ import annotations

import warnings
from contextlib import ExitStack
from typing import Any, Callable

import torch
import torch.nn as nn


def _compiler_error(err: BaseException) -> bool:
    """Whether ``err`` came from the compiler stack (Dynamo, Inductor, the C++ toolchain behind it, or a
    check inside compiled code) rather than from the model, so that eager execution is worth a retry."""
    module = type(err).__module__ or ""
    if module.startswith(("torch._dynamo", "torch._inductor", "torch._subclasses")) or "CppCompileError" in type(err).__name__:
        return True
    frame = err.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    filename = frame.tb_frame.f_code.co_filename if frame is not None else ""
    return any(part in filename for part in ("/torch/_inductor/", "/torch/_dynamo/", "torchinductor"))


class TorchRuntime(nn.Module):
    """A segmentor run by PyTorch: ``compile`` compiles its forward functions with weight freezing
    (the wrapped module itself is left as it is); ``dtype=torch.bfloat16`` runs every forward under
    CPU/CUDA autocast and returns fp32 scores. Inference only: the weights are frozen into the
    compiled graphs at their first call.

    bf16 on the CPU hands the model its input in channels-last memory format (the model itself is left
    as it is): oneDNN's AMX/AVX512-BF16 convolutions then keep activations in NHWC instead of reordering
    them at every layer. The quickstart IDRNet-FCN at 4 × 128², 2 threads: 9.9 → 8.0 ms per image on an
    AVX512-BF16 EPYC (``benchmarks/results/bf16_channels_last_2026-12-06.log``), 10.1 → 6.9 ms on an AMX
    Xeon (measured once, by hand).

    When compilation fails (no C++ compiler, an operator Inductor cannot lower) the runtime turns to
    eager once, with a warning, and repeats the call: the fastest path that works.

    Graphs are compiled for fixed input sizes (Inductor's frozen convolutions fail on dynamic shapes in
    torch 2.14), one per size; after ``max_compiled_sizes`` sizes, new sizes run eager, so a stream of
    differently sized images costs a bounded compile time. Fixed-size work (sliding windows, a camera,
    resized inputs) compiles once.
    """

    def __init__(self, model: nn.Module, compile: bool = False, dtype: torch.dtype | None = None,
                 max_compiled_sizes: int = 4) -> None:
        super().__init__()
        self.model = model
        self.dtype = dtype
        self.compiled = compile
        self.precision = "bf16" if dtype == torch.bfloat16 else "fp32"
        self.backend = "compile" if compile else "eager"
        self.fallback_reason: str | None = None
        self.max_compiled_sizes = max_compiled_sizes
        self._sizes: set[tuple] = set()
        self._compiled: dict[str, Callable[..., torch.Tensor]] = {}
        if compile:
            for name in ("forward_scores", "forward_logits"):
                if hasattr(model, name):
                    self._compiled[name] = torch.compile(getattr(model, name), dynamic=False)

    # The attributes the inference code reads from a segmentor.
    @property
    def config(self) -> Any:  # noqa: D102
        return self.model.config

    @property
    def num_classes(self) -> int:  # noqa: D102
        return self.model.num_classes

    @property
    def align_corners(self) -> bool:  # noqa: D102
        return self.model.align_corners

    @property
    def ignore_index(self) -> int:  # noqa: D102
        return self.model.ignore_index

    @property
    def size_divisor(self) -> int:  # noqa: D102
        return int(getattr(self.model, "size_divisor", 1))

    @property
    def forward_logits(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """Head-resolution logits, when the wrapped model has them (an attribute error otherwise, so
        that ``hasattr`` tells the inference code to use :meth:`forward_scores`)."""
        if not hasattr(self.model, "forward_logits"):
            raise AttributeError("forward_logits")
        return lambda images: self._run("forward_logits", images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits at the input's size (fp32)."""
        return self._run("forward_scores", images)

    def forward_scores(self, images: torch.Tensor, probs_before_resize: bool = False) -> torch.Tensor:
        """Logits (or probabilities) at the input's size (fp32)."""
        return self._run("forward_scores", images, probs_before_resize)

    def _context(self, device: torch.device) -> ExitStack:
        stack = ExitStack()
        if self.dtype is not None:
            stack.enter_context(torch.autocast(device.type, dtype=self.dtype))
        if self.compiled:
            from torch._inductor import config as inductor_config

            # Freezing folds BatchNorm into convolutions and prepacks weights. Patched per call, not
            # globally: a global setting would freeze the weights of models compiled for training.
            stack.enter_context(inductor_config.patch(freezing=True))
        return stack

    @torch.no_grad()
    def _run(self, name: str, images: torch.Tensor, *args: Any) -> torch.Tensor:
        fn = self._compiled.get(name) if self.compiled else None
        if self.dtype == torch.bfloat16 and images.device.type == "cpu" and images.dim() == 4:
            images = images.contiguous(memory_format=torch.channels_last)  # the model runs where its input is
        key = (name, tuple(images.shape), images.dtype, args)
        if fn is not None and key not in self._sizes:
            if len(self._sizes) >= self.max_compiled_sizes:
                fn = None
            else:
                self._sizes.add(key)
        try:
            with self._context(images.device):
                out = (fn or getattr(self.model, name))(images, *args)
        except Exception as err:  # noqa: BLE001 - only compiler errors are caught (re-raised otherwise)
            if fn is None or not _compiler_error(err):
                raise
            self.compiled = False
            try:
                with self._context(images.device):
                    # an input the model itself rejects fails here too: its own error, compile kept
                    out = getattr(self.model, name)(images, *args)
            finally:
                self.compiled = True
            self._uncompile(f"{type(err).__name__}: {' '.join(str(err).split())[:300]}")
        return out.float().contiguous()

    def _uncompile(self, reason: str) -> None:
        self.compiled, self.backend, self.fallback_reason = False, "eager", reason
        warnings.warn(f"torch.compile failed, running eager instead ({reason})", RuntimeWarning, stacklevel=3)
