"""Compile variants of the fast path: which torch.compile settings make HFF's and
backprop's training step faster, timed against each other in one run.

    python benchmarks/compile_variants.py --threads 1                 # widths 3x500 and 3x1000
    python benchmarks/compile_variants.py --threads 1 --variants plain,compiled,compiled-autograd

Variants (the same for every method, so the HFF / backprop ratio stays fair):

- plain: the readable path (``train.train_step`` on the model).
- compiled: what ``fit(..., compile=True)`` steps (``compile.CompiledModel``, torch's defaults).
- cpp-wrapper: the same, with inductor's C++ wrapper instead of its Python one
  (``options={"cpp_wrapper": True}``): fewer Python calls between the kernels.
- max-autotune: ``mode="max-autotune-no-cudagraphs"``: inductor benchmarks its own
  matrix-product kernels against the BLAS ones and keeps the faster.
- compiled-autograd: the losses compiled as in ``compiled``, and their backward captured
  at run time and compiled too (torch's compiled autograd): one compiled backward instead
  of autograd's engine walking the graph node by node. Adam stays torch's fused kernel.

An experiment, not the package's path: ``compile.py`` keeps the variant that is as fast
as the others (benchmarks/README.md, section 2). Every variant runs the same loop: one
minibatch of Fashion-MNIST per step (100 samples), zero_grad, the losses' backward,
Adam at a fixed learning rate (no cool-down: a changing float learning rate would
recompile a compiled step); variants take turns in blocks, median over blocks.
Writes results/compile_variants.{json,csv}.
"""
from __future__ import annotations

import functools
import statistics
import sys
import time

import torch
from torch._dynamo import compiled_autograd

from _common import (header, metadata, out_name, parse_widths, parser, quick_defaults, setup, table, widths_label,
                     write_results)
from hff_edu import data, train
from hff_edu.compile import CompiledModel, _own_copy
from hff_edu.models import build

VARIANTS = ("plain", "compiled", "cpp-wrapper", "max-autotune", "compiled-autograd")


def stepper(method: str, variant: str, ds, widths, x, y, lr: float, seed: int, backend: str = "inductor"):
    """A function running one training step of a fresh model on (x, y); returns its losses."""
    if backend != "inductor" and variant in ("cpp-wrapper", "max-autotune"):
        raise SystemExit(f"--variants {variant} is an inductor setting: drop it or use --compile-backend inductor.")
    model = build(method, ds, widths, seed=seed)
    opt = train.make_optimizer(model, "adam", lr)
    target = model
    if variant != "plain":
        target = CompiledModel(model, mode="max-autotune-no-cudagraphs" if variant == "max-autotune" else None,
                               backend=backend)
    if variant == "cpp-wrapper":  # torch.compile takes mode or options, not both
        target._losses = torch.compile(_own_copy(model.local_losses), options={"cpp_wrapper": True}, dynamic=False)
    if variant == "compiled-autograd":
        def run():
            with compiled_autograd._enable(functools.partial(torch.compile, backend=backend)):
                return train.train_step(target, opt, x, y)
        return run
    return lambda: train.train_step(target, opt, x, y)


def main(argv=None):
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--compile-backend", default="inductor",
                   help="torch.compile backend of the compiled variants (aot_eager: capture without inductor)")
    p.add_argument("--widths", type=parse_widths, nargs="+", default=[[500] * 3, [1000] * 3])
    p.add_argument("--methods", default="hff,bp")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--steps", type=int, default=15, help="steps per block")
    p.add_argument("--blocks", type=int, default=10)
    a = p.parse_args(argv)
    quick_defaults(p, a, widths=[[100, 100]], steps=3, blocks=2)
    device = setup(a)
    if device.type != "cpu":
        raise SystemExit("compile_variants.py times the CPU fast path; use training_cost.py --device cuda on a GPU.")
    methods = [m.strip() for m in a.methods.split(",") if m.strip()]
    variants = [v.strip() for v in a.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"--variants: unknown {', '.join(unknown)}; choose from {', '.join(VARIANTS)}.")
    ds = data.load(a.dataset, subset=2000, test_subset=100, seed=a.seed)
    x, y = ds.train.x[:100].contiguous(), ds.train.y[:100].contiguous()
    config = dict(dataset=a.dataset, compile_backend=a.compile_backend, widths=[widths_label(w) for w in a.widths], methods=methods, variants=variants, batch_size=100,
                  lr=a.lr, steps_per_block=a.steps, blocks=a.blocks, timing="variants in turns per block; median")
    meta = metadata(a, device, config, "python benchmarks/compile_variants.py " + " ".join(argv or sys.argv[1:]))
    print(header("compile variants of the training step", meta), flush=True)
    rows = []
    for widths in a.widths:
        torch.compiler.reset()
        w = widths_label(widths)
        fns, warmup = {}, {}
        for m in methods:
            for v in variants:
                fn = stepper(m, v, ds, widths, x, y, a.lr, a.seed, a.compile_backend)
                start = time.perf_counter()
                for _ in range(3):  # compiles, then two warm steps
                    fn()
                warmup[(m, v)] = time.perf_counter() - start
                fns[(m, v)] = fn
        per, last = {k: [] for k in fns}, {}
        for _ in range(a.blocks):
            for k, fn in fns.items():
                start = time.perf_counter()
                for _ in range(a.steps):
                    losses = fn()
                per[k].append((time.perf_counter() - start) / a.steps)
                last[k] = losses
        for (m, v), secs in per.items():
            ms = 1e3 * statistics.median(secs)
            bp = 1e3 * statistics.median(per[("bp", v)]) if ("bp", v) in per else None
            # every variant trained the same model on the same batches: its last losses match the
            # readable path's up to float rounding (a variant that trained something else would not)
            drift = (float((last[(m, v)] - last[(m, "plain")]).abs().max()) if (m, "plain") in last else None)
            rows.append(dict(method=m, variant=v, widths=w, threads=torch.get_num_threads(), step_ms=ms,
                             ratio_to_bp=ms / bp if bp else None, warmup_s=warmup[(m, v)],
                             loss_drift=drift, block_step_s=secs))
    print(table(["method", "variant", "widths", "threads", "ms/step", "x bp", "warm-up s", "loss vs plain"],
                [[r["method"], r["variant"], r["widths"], r["threads"], f"{r['step_ms']:.2f}",
                  f"{r['ratio_to_bp']:.3f}" if r["ratio_to_bp"] else "-", f"{r['warmup_s']:.1f}",
                  "-" if r["loss_drift"] is None else f"{r['loss_drift']:.1e}"] for r in rows]))
    print("(loss vs plain: the largest difference of the last step's losses from the readable path's, after the "
          "same steps on the same batch: float rounding only)")
    path = write_results(out_name("compile_variants", a), a, meta, rows)
    print(f"\nwrote {path} (+ .csv)")
    return dict(rows=rows, path=str(path))


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"({(time.perf_counter() - started) / 60:.1f} min)")
