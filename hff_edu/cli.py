"""Command line: ``python -m hff_edu {train,evaluate,compare} ...`` (``--help`` on each).

    python -m hff_edu train --method hff --dataset fashion-mnist --epochs 5 --widths 1000,1000,1000
    python -m hff_edu evaluate data/models/hff.pt
    python -m hff_edu compare --methods hff,ff --dataset fashion-mnist --epochs 2
    python -m hff_edu train --method hff-conv --dataset fashion-mnist --channels 32,64,128 --augment

Methods ending in ``-conv`` are the convolutional models (blocks of ``--channels``);
the others are MLPs (layers of ``--widths``).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

from . import checkpoint, data, parallel
from .augment import for_dataset
from .models import DEFAULT_LR, METHODS, base_method, build, method_of
from .train import accuracy
from .version import __version__


def parse_widths(text: str) -> list[int]:
    """``"1000,1000,1000"`` or ``"3x1000"`` -> [1000, 1000, 1000]."""
    try:
        if "x" in text:
            n, w = text.lower().split("x")
            return [int(w)] * int(n)
        return [int(w) for w in text.split(",") if w.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--widths {text!r}: write e.g. 1000,1000,1000 or 3x1000.")


def _add_data_args(p: argparse.ArgumentParser, default_dataset: str = "digits") -> None:
    p.add_argument("--dataset", default=default_dataset, choices=data.DATASETS,
                   help="dataset to train on (digits and fashion-mnist work offline; default %(default)s)")
    p.add_argument("--subset", type=int, default=None,
                   help="use a class-stratified random subset of this many training samples (default: all)")
    p.add_argument("--test-subset", type=int, default=None,
                   help="evaluate on a subset of this many test samples (default: all)")


def _add_train_args(p: argparse.ArgumentParser) -> None:
    _add_data_args(p)
    p.add_argument("--epochs", type=int, default=10, help="training epochs (default %(default)s)")
    p.add_argument("--widths", type=parse_widths, default=[500, 500, 500],
                   help="hidden layer widths, e.g. 1000,1000,1000 or 3x1000 (default 3x500)")
    p.add_argument("--batch-size", type=int, default=100, help="minibatch size (default %(default)s)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: 1e-3 for MLPs, 2e-3 for conv models; Adam)")
    p.add_argument("--weight-decay", type=float, default=0.0, help="weight decay, never on prototypes (default 0)")
    p.add_argument("--optimizer", choices=["adam", "adamw", "sgd"], default="adam",
                   help="optimizer (sgd uses momentum 0.9; default %(default)s)")
    p.add_argument("--schedule", choices=["simultaneous", "greedy"], default="simultaneous",
                   help="update all layers every minibatch, or train them one after another (default %(default)s)")
    p.add_argument("--no-cooldown", action="store_true",
                   help="keep the learning rate constant (default: linear decay over the second half)")
    p.add_argument("--seed", type=int, default=0, help="seed for data subsets, initialisation and shuffling")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's choice; 1 is often faster on a busy machine)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    g = p.add_argument_group("HFF options")
    g.add_argument("--tau", type=float, default=None, help="loss temperature (default 0.1 for C<=10, else 0.05)")
    g.add_argument("--margin", type=float, default=0.0, help="smooth margin m >= 0 (default 0)")
    g.add_argument("--protos-per-class", type=int, default=1, help="prototypes per class K (default 1)")
    g.add_argument("--init", choices=["etf", "separated", "random"], default="etf",
                   help="prototype initialisation (default %(default)s)")
    g.add_argument("--fixed-prototypes", action="store_true", help="do not learn the prototypes (ablation)")
    g.add_argument("--rule", choices=["last", "sum"], default="last",
                   help="default prediction rule: last layer or sum over layers (both are reported)")
    g = p.add_argument_group("FF options")
    g.add_argument("--theta", type=float, default=None, help="goodness threshold (default: the layer width)")
    g.add_argument("--label-scale", type=float, default=1.0, help="value written for the one-hot label (default 1)")
    g.add_argument("--negatives", choices=["uniform", "hard"], default="uniform",
                   help="wrong labels drawn uniformly or from the current softmax (default %(default)s)")
    g.add_argument("--ff-mode", choices=["goodness", "softmax"], default="goodness",
                   help="default prediction mode (both are reported)")
    g = p.add_argument_group("conv options (methods ending in -conv)")
    g.add_argument("--channels", type=parse_widths, default=[32, 64, 128],
                   help="block channels, e.g. 32,64,128 (default 32,64,128)")
    g.add_argument("--convs-per-block", type=int, default=1, choices=[1, 2],
                   help="2 trains two convs together per block: block-local, not layer-local (default 1)")
    g.add_argument("--head-dim", type=int, default=None,
                   help="HFF/local-CE AuxConv size d (default: max(channels, C x K))")
    g.add_argument("--ff-loss", choices=["ff", "symba"], default="ff", help="conv FF loss (default ff)")
    g.add_argument("--augment", action="store_true",
                   help="random crop (+ flip where the dataset allows it) on every training batch")


def _model_kwargs(method: str, a) -> dict:
    kw = dict(seed=a.seed)
    conv = method.endswith("-conv")
    if conv:
        kw.update(convs_per_block=a.convs_per_block)
    base = base_method(method)
    if base == "hff":
        kw.update(tau=a.tau, margin=a.margin, protos_per_class=a.protos_per_class, init=a.init,
                  learnable=not a.fixed_prototypes, rule=a.rule)
        if conv:
            kw.update(head_dim=a.head_dim)
    elif base == "ff":
        kw.update(theta=a.theta, negatives=a.negatives, predict_mode=a.ff_mode)
        if conv:
            kw.update(loss=a.ff_loss)
        else:
            kw.update(label_scale=a.label_scale)
    elif method == "local-ce-conv":
        kw.update(head_dim=a.head_dim)
    return kw


def final_scores(model, split) -> dict:
    """Test accuracy under every prediction mode/rule the model has."""
    name = method_of(model)
    if base_method(name) == "ff":
        return {f"{name} goodness": accuracy(model, split, mode="goodness"),
                f"{name} softmax": accuracy(model, split, mode="softmax")}
    if base_method(name) == "hff":
        return {f"{name} last": accuracy(model, split, rule="last"),
                f"{name} sum": accuracy(model, split, rule="sum")}
    return {name: accuracy(model, split)}


def run_one(method: str, ds, a) -> dict:
    start = time.perf_counter()
    sizes = a.channels if method.endswith("-conv") else a.widths
    model = build(method, ds, sizes, **_model_kwargs(method, a))
    lr = a.lr if a.lr is not None else DEFAULT_LR[method]
    augment = for_dataset(ds.name, seed=a.seed) if a.augment else None
    train_fn = parallel.cli_trainer(a)  # train.fit; data parallel under torchrun; the pipeline with --stages
    history = train_fn(model, ds, epochs=a.epochs, batch_size=a.batch_size, lr=lr, weight_decay=a.weight_decay,
                       optimizer=a.optimizer, schedule=a.schedule, cooldown=not a.no_cooldown, seed=a.seed,
                       progress=not a.quiet, device=a.device, augment=augment)
    scores = final_scores(model, ds.test)
    return dict(model=model, history=history, scores=scores, wall_s=time.perf_counter() - start)


def cmd_train(a) -> int:
    ds = data.load(a.dataset, subset=a.subset, test_subset=a.test_subset, seed=a.seed)
    print(ds.describe())
    sizes = f"channels {a.channels}" if a.method.endswith("-conv") else f"widths {a.widths}"
    print(f"method {a.method}, {sizes}, {a.epochs} epochs, batch {a.batch_size}, seed {a.seed}")
    out = run_one(a.method, ds, a)
    print(out["history"].table())
    for name, acc in out["scores"].items():
        print(f"final test accuracy ({name}): {acc:.4f}")
    train_s = sum(out["history"].column("seconds"))
    print(f"seconds per epoch: {out['history'].seconds_per_epoch:.2f}; training time {train_s:.0f} s "
          f"({train_s / 60:.1f} min), wall time incl. evaluation {out['wall_s']:.0f} s ({out['wall_s'] / 60:.1f} min)")
    if a.save and parallel.is_main_process():  # under torchrun: one checkpoint, from rank 0
        path = checkpoint.save(out["model"], a.save, history=out["history"].to_dict(), method=a.method,
                               dataset=a.dataset, subset=a.subset, test_subset=a.test_subset, seed=a.seed)
        print(f"saved checkpoint to {path}")
    return 0


def cmd_evaluate(a) -> int:
    model, extra = checkpoint.load(a.checkpoint, device=a.device)
    name = a.dataset or extra.get("dataset")
    if name is None:
        raise SystemExit("The checkpoint does not name its dataset: pass --dataset.")
    ds = data.load(name, subset=extra.get("subset"), seed=extra.get("seed", 0),
                   test_subset=a.test_subset if a.test_subset is not None else extra.get("test_subset"))
    if ds.in_features != getattr(model, "in_features", ds.in_features) or ds.num_classes != model.num_classes:
        raise SystemExit(f"The checkpoint's model takes {model.in_features} features and {model.num_classes} "
                         f"classes but {name} has {ds.in_features} and {ds.num_classes}: pick its dataset.")
    print(f"{type(model).__name__} from {a.checkpoint} on {ds.describe()}")
    for key, acc in final_scores(model, ds.test).items():
        print(f"test accuracy ({key}): {acc:.4f}")
    return 0


def cmd_compare(a) -> int:
    methods = [m.strip() for m in a.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise SystemExit(f"Unknown method(s) {unknown}: choose from {', '.join(METHODS)}.")
    ds = data.load(a.dataset, subset=a.subset, test_subset=a.test_subset, seed=a.seed)
    print(ds.describe())
    print(f"widths {a.widths} (MLPs), channels {a.channels} (conv), {a.epochs} epochs, batch {a.batch_size}, seed {a.seed}, "
          f"{torch.get_num_threads()} threads")
    rows = []
    for m in methods:
        start = time.perf_counter()
        out = run_one(m, ds, a)
        h = out["history"]
        for key, acc in out["scores"].items():
            rows.append(dict(method=key, test_acc=acc, sec_per_epoch=h.seconds_per_epoch,
                             wall_s=time.perf_counter() - start,
                             layer_test_acc=h.final["layer_test_acc"]))
        print(f"== {m}: done in {time.perf_counter() - start:.1f} s\n{h.table()}", flush=True)
    table = results_table(rows)
    print(table)
    if a.out:
        out = Path(a.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(dict(
            dataset=a.dataset, train_size=len(ds.train), test_size=len(ds.test), widths=a.widths,
            epochs=a.epochs, batch_size=a.batch_size, seed=a.seed, torch=torch.__version__,
            hff_edu=__version__, machine=platform.platform(), threads=torch.get_num_threads(),
            rows=rows), indent=2))
        print(f"wrote {out}")
    return 0


def results_table(rows: list[dict]) -> str:
    """A Markdown table: method, test accuracy, seconds per epoch, per-layer accuracy."""
    lines = ["| method | test acc | s/epoch | per-layer test acc |", "|---|---|---|---|"]
    for r in rows:
        layers = " / ".join(f"{v:.3f}" for v in r["layer_test_acc"])
        lines.append(f"| {r['method']} | {r['test_acc']:.4f} | {r['sec_per_epoch']:.1f} | {layers} |")
    return "\n".join(lines)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hff_edu", description=(
        "Train and evaluate Forward-Forward (ff), Hyperspherical Forward-Forward (hff), backprop (bp) "
        "and local cross-entropy (local-ce) networks."))
    parser.add_argument("--version", action="version", version=f"hff_edu {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train one model, print a per-epoch table and the final test accuracy",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--method", choices=list(METHODS), required=True, help="which algorithm")
    _add_train_args(p)
    p.add_argument("--save", default=None, metavar="PATH", help="write a checkpoint (model + config + history)")
    g = p.add_argument_group("parallel training (taught in 08_parallel_training)")
    g.add_argument("--stages", type=int, default=None,
                   help="pipeline the layers over this many processes, one stage each (local methods only); "
                        "under torchrun, one process per stage. Data parallel: torchrun --standalone "
                        "--nproc-per-node N -m hff_edu train ... (without --stages)")
    g.add_argument("--timeout", type=float, default=None,
                   help="seconds a rendezvous or message between processes may take (default 300)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="re-evaluate a checkpoint on its dataset's test split")
    p.add_argument("checkpoint", help="path written by train --save")
    p.add_argument("--dataset", default=None, choices=data.DATASETS, help="override the stored dataset")
    p.add_argument("--test-subset", type=int, default=None, help="evaluate on this many test samples")
    p.add_argument("--device", default=None, help="cpu or cuda")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("compare", help="train several methods with the same settings and print a results table")
    p.add_argument("--methods", default="hff,ff,bp,local-ce", help="comma-separated methods (default %(default)s)")
    _add_train_args(p)
    p.add_argument("--out", default=None, metavar="FILE", help="also write the results as JSON")
    p.set_defaults(func=cmd_compare)
    return parser


def main(argv=None) -> int:
    args = make_parser().parse_args(argv)
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    try:
        with parallel.cli_session(args):  # under torchrun: join the process group; rank 0 prints
            return args.func(args)
    except (ValueError, FileNotFoundError, parallel.ParallelError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
