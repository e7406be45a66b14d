"""Compile variants of the fast path: which torch.compile settings make HFF's and
backprop's training step faster, timed against each other in one run.

    python benchmarks/compile_variants.py --threads 1                 # widths 3x500 and 3x1000
    python benchmarks/compile_variants.py --threads 1 --variants plain,compiled,compiled-autograd

Variants (the same for every method, so the HFF / backprop ratio stays fair):

- plain: the readable path (the model itself).
- compiled: what ``fit(..., compile=True)`` steps (``compile.CompiledModel``, torch's defaults).
- cpp-wrapper: the same, with inductor's C++ wrapper instead of its Python one
  (``options={"cpp_wrapper": True}``): fewer Python calls between the kernels.
- max-autotune: ``mode="max-autotune-no-cudagraphs"``: inductor benchmarks its own
  matrix-product kernels against the BLAS ones and keeps the faster.
- compiled-autograd: the losses compiled as in ``compiled``, and their backward captured
  at run time and compiled too (torch's compiled autograd): one compiled backward instead
  of autograd's engine walking the graph node by node. Adam stays torch's fused kernel.

An experiment, not the package's path: ``compile.py`` keeps the variant that is as fast
as the others (benchmarks/README.md, section 2). The variants are timed by the loop
``training_cost.py`` uses (``timing.time_training``: the trainer's step on shuffled
Fashion-MNIST minibatches, the same ones for every variant, in interleaved blocks, median
over blocks). Before that, a fresh model of every variant takes three steps on one fixed
batch: its losses equal the readable path's up to float rounding, or the variant trains
something else. Writes results/compile_variants.{json,csv}.
"""
from __future__ import annotations

import functools
import sys
import time

import torch
from torch._dynamo import compiled_autograd

from _common import (header, metadata, out_name, parse_widths, parser, quick_defaults, setup, table, widths_label,
                     write_results)
from hff_edu import data, timing, train
from hff_edu.training.compile import CompiledModel
from hff_edu.methods import build

VARIANTS = ("plain", "compiled", "cpp-wrapper", "max-autotune", "compiled-autograd")


class CompiledAutograd(CompiledModel):
    """The fast path with its backward compiled too (torch's compiled autograd, captured at run time)."""

    def backward_local(self, x, y, active=None, generator=None):
        with compiled_autograd._enable(functools.partial(torch.compile, backend=self.options["backend"])):
            return super().backward_local(x, y, active=active, generator=generator)


def variant_of(model, variant: str, backend: str = "inductor"):
    """What ``train.train_step`` steps for ``variant``: the model, or a compiled wrapper of it."""
    if backend != "inductor" and variant in ("cpp-wrapper", "max-autotune"):
        raise SystemExit(f"--variants {variant} is an inductor setting: drop it or use --compile-backend inductor.")
    if variant == "plain":
        return model
    if variant == "compiled-autograd":
        return CompiledAutograd(model, backend=backend)
    return CompiledModel(model, backend=backend, mode="max-autotune-no-cudagraphs" if variant == "max-autotune" else None,
                         options={"cpp_wrapper": True} if variant == "cpp-wrapper" else None)


def first_losses(method: str, variant: str, ds, widths, x, y, lr: float, seed: int, backend: str):
    """The losses of three training steps of a fresh model of ``variant`` on the batch (x, y)."""
    model = build(method, ds, widths, seed=seed)
    stepper, opt = variant_of(model, variant, backend), train.make_optimizer(model, "adam", lr)
    return torch.stack([train.train_step(stepper, opt, x, y) for _ in range(3)])


def main(argv=None):
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--subset", type=int, default=None, help="training samples (default: all)")
    p.add_argument("--compile-backend", default="inductor",
                   help="torch.compile backend of the compiled variants (aot_eager: capture without inductor)")
    p.add_argument("--widths", type=parse_widths, nargs="+", default=[[500] * 3, [1000] * 3])
    p.add_argument("--methods", default="hff,bp")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--steps", type=int, default=150, help="timed steps per variant and width")
    p.add_argument("--blocks", type=int, default=10, help="interleaving blocks")
    a = p.parse_args(argv)
    quick_defaults(p, a, dataset="digits", widths=[[100, 100]], steps=6, blocks=2)
    device = setup(a)
    if device.type != "cpu":
        raise SystemExit("compile_variants.py times the CPU fast path; use training_cost.py --device cuda on a GPU.")
    methods = [m.strip() for m in a.methods.split(",") if m.strip()]
    variants = [v.strip() for v in a.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"--variants: unknown {', '.join(unknown)}; choose from {', '.join(VARIANTS)}.")
    ds = data.load(a.dataset, subset=a.subset, test_subset=100, seed=a.seed)
    x, y = ds.train.x[:a.batch_size], ds.train.y[:a.batch_size]  # the batch of the same-training check
    config = dict(dataset=a.dataset, train_size=len(ds.train), compile_backend=a.compile_backend,
                  widths=[widths_label(w) for w in a.widths], methods=methods, variants=variants,
                  batch_size=a.batch_size, lr=a.lr, steps_timed=a.steps, blocks=a.blocks,
                  timing="timing.time_training: train.fit's step, variants interleaved in blocks; median s/step")
    meta = metadata(a, device, config, "python benchmarks/compile_variants.py " + " ".join(argv or sys.argv[1:]))
    print(header("compile variants of the training step", meta), flush=True)
    rows = []
    for widths in a.widths:
        torch.compiler.reset()  # free the previous widths' compiled code
        first = {(m, v): first_losses(m, v, ds, widths, x, y, a.lr, a.seed, a.compile_backend)
                 for m in methods for v in variants}
        steppers = {f"{m} {v}": variant_of(build(m, ds, widths, seed=a.seed), v, a.compile_backend)
                    for m in methods for v in variants}
        res = timing.time_training(steppers, ds.train, a.batch_size, a.lr, steps=a.steps, blocks=a.blocks,
                                   seed=a.seed, device=device)
        for m in methods:
            for v in variants:
                r, plain = res[f"{m} {v}"], first.get((m, "plain"))
                bp = res.get(f"bp {v}")
                rows.append(dict(method=m, variant=v, widths=widths_label(widths), threads=torch.get_num_threads(),
                                 step_ms=1e3 * r["step_s"], ratio_to_bp=r["step_s"] / bp["step_s"] if bp else None,
                                 warmup_s=r["warmup_s"], steps_timed=r["steps_timed"], block_step_s=r["block_step_s"],
                                 loss_drift=None if plain is None else float((first[(m, v)] - plain).abs().max())))
    print(table(["method", "variant", "widths", "threads", "ms/step", "x bp", "warm-up s", "loss vs plain"],
                [[r["method"], r["variant"], r["widths"], r["threads"], f"{r['step_ms']:.2f}",
                  f"{r['ratio_to_bp']:.3f}" if r["ratio_to_bp"] else "-", f"{r['warmup_s']:.1f}",
                  "-" if r["loss_drift"] is None else f"{r['loss_drift']:.1e}"] for r in rows]))
    print("(loss vs plain: a fresh model's losses in three steps on one fixed batch, largest difference from the "
          "readable path's: float rounding only)")
    path = write_results(out_name("compile_variants", a), a, meta, rows)
    print(f"\nwrote {path} (+ .csv)")
    return dict(rows=rows, path=str(path))


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"({(time.perf_counter() - started) / 60:.1f} min)")
