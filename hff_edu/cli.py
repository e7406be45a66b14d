"""Command line: ``python -m hff_edu {train,evaluate,compare,course} ...`` (``--help`` on each).

    python -m hff_edu train --method hff --dataset fashion-mnist --epochs 5 --widths 1000,1000,1000
    python -m hff_edu evaluate data/models/hff.pt
    python -m hff_edu compare --methods hff,ff --dataset fashion-mnist --epochs 2
    python -m hff_edu train --method hff-conv --dataset fashion-mnist --channels 32,64,128 --augment
    hff-edu course ~/hff-course --student        # the course in a folder (hff_edu.course)

Methods ending in ``-conv`` are the convolutional models (blocks of ``--channels``);
the others are MLPs (layers of ``--widths``). With ``--val N`` (or a fraction) the
per-epoch table shows validation accuracy and the test split is scored once, at
the end.

Every user error (a bad argument, a missing or corrupt file, no GPU for
``--device cuda``, a diverging run) ends with exit status 2 and one line on
stderr, ``error: <problem and fix>``, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import torch

from .training import checkpoint, parallel
from .core import data
from .core.augment import for_dataset
from .methods import (DEFAULT_CHANNELS, DEFAULT_LR, DEFAULT_WIDTHS, METHODS, SPECS, build, method_of,
                      readouts_of, spec_of)
from .core.protocol import check_device
from .training.trainer import TrainingWarning, accuracy, default_epochs
from .version import __version__


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``error: ...``, exit status 2) like every other error."""

    def error(self, message):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def parse_widths(text: str) -> list[int]:
    """``"1000,1000,1000"`` or ``"3x1000"`` -> [1000, 1000, 1000]."""
    try:
        if "x" in text.lower():
            n, w = text.lower().split("x")
            sizes = [int(w)] * int(n)
        else:
            sizes = [int(w) for w in text.split(",") if w.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: write positive sizes, e.g. 1000,1000,1000 or 3x1000.")
    return sizes


def _whole(minimum: int):
    """An argparse type: a whole number >= ``minimum``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number (give e.g. {max(minimum, 1) * 10}).")
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text} is too small: give a whole number >= {minimum}.")
        return value
    parse.__name__ = f"whole number >= {minimum}"
    return parse


def _number(positive: bool):
    """An argparse type: a finite float > 0 (``positive``) or >= 0."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number.")
        if not math.isfinite(value) or value < 0 or (positive and value == 0):
            raise argparse.ArgumentTypeError(f"{text}: give a finite number {'> 0' if positive else '>= 0'}.")
        return value
    return parse


def parse_val(text: str) -> int | float:
    """``--val``: ``"5000"`` (samples) or ``"0.1"`` (a fraction of the training split)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of samples (e.g. 5000) or a fraction (e.g. 0.1).")
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text}: a fraction must lie in (0, 1), e.g. 0.1; a whole number "
                                         "is a number of samples.")
    return value


def parse_device(text: str) -> str:
    """``--device``: a device that exists here (``cuda`` only with a GPU)."""
    try:
        check_device(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))
    return text


def parse_methods(text: str) -> list[str]:
    """``--methods hff,ff``: known method names, at least one."""
    methods = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise argparse.ArgumentTypeError(f"unknown method(s) {unknown or text!r}: choose from {', '.join(METHODS)}.")
    return methods


def parse_out_path(text: str) -> str:
    """``--save``/``--out``: a file path whose folder can be written (checked before training)."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder: give a file name, e.g. {path / 'model.pt'}.")
    folder = next((p for p in [path.parent, *path.parent.parents] if p.exists()), Path("."))
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise argparse.ArgumentTypeError(f"cannot write {text}: {folder} is not a writable folder.")
    return text


def _add_data_args(p: argparse.ArgumentParser, default_dataset: str = "digits") -> None:
    p.add_argument("--dataset", default=default_dataset, choices=data.DATASETS,
                   help="dataset to train on (digits and fashion-mnist work offline; default %(default)s)")
    p.add_argument("--subset", type=_whole(1), default=None,
                   help="use a class-stratified random subset of this many training samples (default: all)")
    p.add_argument("--test-subset", type=_whole(1), default=None,
                   help="evaluate on a subset of this many test samples (default: all)")
    p.add_argument("--val", type=parse_val, default=None, metavar="N|FRACTION",
                   help="carve a stratified validation split (N samples, or a fraction such as 0.1) from the "
                        "training split: the table then shows validation accuracy, and the test split is scored "
                        "once at the end (default: none)")
    p.add_argument("--val-seed", type=_whole(0), default=None,
                   help="seed of the validation split (default: --seed)")


def _add_train_args(p: argparse.ArgumentParser) -> None:
    _add_data_args(p)
    p.add_argument("--epochs", type=_whole(1), default=None,
                   help="training epochs (default: 10, more on small training sets, to reach 200 steps)")
    p.add_argument("--widths", type=parse_widths, default=list(DEFAULT_WIDTHS),
                   help="hidden layer widths, e.g. 1000,1000,1000 or 3x1000 (default 3x500)")
    p.add_argument("--batch-size", type=_whole(1), default=100, help="minibatch size (default %(default)s)")
    p.add_argument("--lr", type=_number(True), default=None,
                   help="learning rate (default: 1e-3 for MLPs, 2e-3 for conv models; Adam)")
    p.add_argument("--weight-decay", type=_number(False), default=0.0,
                   help="weight decay, never on prototypes (default 0)")
    p.add_argument("--optimizer", choices=["adam", "adamw", "sgd"], default="adam",
                   help="optimizer (sgd uses momentum 0.9; default %(default)s)")
    p.add_argument("--schedule", choices=["simultaneous", "greedy"], default="simultaneous",
                   help="update all layers every minibatch, or train them one after another (default %(default)s)")
    p.add_argument("--no-cooldown", action="store_true",
                   help="keep the learning rate constant (default: linear decay over the second half)")
    p.add_argument("--seed", type=_whole(0), default=0, help="seed for data subsets, initialisation and shuffling")
    p.add_argument("--device", type=parse_device, default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--threads", type=_whole(1), default=None,
                   help="torch CPU threads (default: torch's choice; 1 is often faster on a busy machine)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--compile", action="store_true",
                   help="train on the fast path: losses compiled by torch.compile (first steps compile; "
                        "same results to float tolerance)")
    _add_method_options(p)
    g = p.add_argument_group("conv options (methods ending in -conv)")
    g.add_argument("--channels", type=parse_widths, default=list(DEFAULT_CHANNELS),
                   help="block channels, e.g. 32,64,128 (default 32,64,128)")
    g.add_argument("--convs-per-block", type=int, default=1, choices=[1, 2],
                   help="2 trains two convs together per block: block-local, not layer-local (default 1)")
    g.add_argument("--augment", action="store_true",
                   help="random crop (+ flip where the dataset allows it) on every training batch")


#: how the text of each kind of method option is read (methods/spec.py: Option.kind)
OPTION_TYPES = {"float": float, "positive": _number(True), "non-negative": _number(False), "int": _whole(1)}


def _add_method_options(p: argparse.ArgumentParser) -> None:
    """One argument group per method, from the options each method declares (methods/spec.py). A flag
    two methods declare (``--head-dim``) is added once, its help naming both."""
    seen = {}
    for spec in SPECS.values():
        options = [o for o in spec.options if o.flag not in seen]
        for o in spec.options:
            seen.setdefault(o.flag, []).append(spec.name)
        if not options:
            continue
        g = p.add_argument_group(f"{spec.name} options ({spec.title})")
        for o in options:
            users = ", ".join(s.name for s in SPECS.values() if any(x.flag == o.flag for x in s.options))
            help_text = o.help + (f" [{users}]" if "," in users else "")
            if o.kind in ("true", "false"):
                g.add_argument(o.flag, dest=o.destination, action="store_const", const=o.kind == "true",
                               default=None, help=help_text)
            elif o.kind == "choice":
                g.add_argument(o.flag, dest=o.destination, choices=list(o.choices), default=o.default, help=help_text)
            else:
                g.add_argument(o.flag, dest=o.destination, type=OPTION_TYPES[o.kind], default=o.default,
                               help=help_text)


def _model_kwargs(method: str, a) -> dict:
    """The constructor arguments of ``method`` from the command line: its declared options that apply
    to its architecture and were given (or have a default of their own)."""
    conv = method.endswith("-conv")
    kw = dict(seed=a.seed)
    if conv:
        kw.update(convs_per_block=a.convs_per_block)
    for o in spec_of(method).options:
        if ("conv" if conv else "mlp") in o.arch:
            value = getattr(a, o.destination, None)
            if value is not None:
                kw[o.kwarg] = value
    return kw


def final_scores(model, split) -> dict:
    """Test accuracy under every readout the model's method declares."""
    name = method_of(model)
    readouts = readouts_of(model)
    if len(readouts) == 1:
        return {name: accuracy(model, split, **next(iter(readouts.values())))}
    return {f"{name} {r}": accuracy(model, split, **kw) for r, kw in readouts.items()}


def run_one(method: str, ds, a) -> dict:
    start = time.perf_counter()
    sizes = a.channels if method.endswith("-conv") else a.widths
    model = build(method, ds, sizes, **_model_kwargs(method, a))
    lr = a.lr if a.lr is not None else DEFAULT_LR[method]
    augment = for_dataset(ds.name, seed=a.seed) if a.augment else None
    if a.compile and (getattr(a, "stages", None) or parallel.under_torchrun()):
        raise ValueError("--compile is the fast path of one process: drop it for --stages or torchrun "
                         "(each stage or rank runs the readable path).")
    fast = dict(compile=True) if a.compile else {}
    train_fn = parallel.cli_trainer(a)  # train.fit; data parallel under torchrun; the pipeline with --stages
    history = train_fn(model, ds, epochs=a.epochs, batch_size=a.batch_size, lr=lr, weight_decay=a.weight_decay,
                       optimizer=a.optimizer, schedule=a.schedule, cooldown=not a.no_cooldown, seed=a.seed,
                       progress=not a.quiet, device=a.device, augment=augment, **fast)
    scores = final_scores(model, ds.test)  # the test split, scored once, at the end
    val_scores = final_scores(model, ds.val) if ds.val is not None else {}
    return dict(model=model, history=history, scores=scores, val_scores=val_scores,
                wall_s=time.perf_counter() - start)


def _print_notes(history) -> None:
    """The run's warnings (e.g. it ended at chance level), one line each on stderr."""
    sys.stdout.flush()
    for note in history.notes:
        print(f"warning: {note}", file=sys.stderr, flush=True)


def _load_data(a):
    return data.load(a.dataset, subset=a.subset, test_subset=a.test_subset, seed=a.seed, val=a.val,
                          val_seed=a.val_seed)


def _epochs(a, ds) -> int:
    return a.epochs if a.epochs is not None else default_epochs(len(ds.train), a.batch_size)


def cmd_train(a) -> int:
    ds = _load_data(a)
    print(ds.describe())
    sizes = f"channels {a.channels}" if a.method.endswith("-conv") else f"widths {a.widths}"
    print(f"method {a.method}, {sizes}, {_epochs(a, ds)} epochs, batch {a.batch_size}, seed {a.seed}")
    out = run_one(a.method, ds, a)
    print(out["history"].table())
    for name, acc in out["val_scores"].items():
        print(f"final validation accuracy ({name}): {acc:.4f}")
    for name, acc in out["scores"].items():
        print(f"final test accuracy ({name}): {acc:.4f}")
    _print_notes(out["history"])
    train_s = sum(out["history"].column("seconds"))
    print(f"seconds per epoch: {out['history'].seconds_per_epoch:.2f}; training time {train_s:.0f} s "
          f"({train_s / 60:.1f} min), wall time incl. evaluation {out['wall_s']:.0f} s ({out['wall_s'] / 60:.1f} min)")
    if a.save and parallel.is_main_process():  # under torchrun: one checkpoint, from rank 0
        path = checkpoint.save(out["model"], a.save, history=out["history"].to_dict(), method=a.method,
                               dataset=a.dataset, subset=a.subset, test_subset=a.test_subset, seed=a.seed,
                               val=a.val, val_seed=a.val_seed)
        print(f"saved checkpoint to {path}")
    return 0


def cmd_evaluate(a) -> int:
    model, extra = checkpoint.load(a.checkpoint, device=a.device)
    name = a.dataset or extra.get("dataset")
    if name is None:
        raise ValueError(f"{a.checkpoint} does not name its dataset: pass --dataset.")
    # The same splits as in training (the validation split changes the standardisation statistics).
    ds = data.load(name, subset=extra.get("subset"), seed=extra.get("seed", 0), val=extra.get("val"),
                   val_seed=extra.get("val_seed"),
                   test_subset=a.test_subset if a.test_subset is not None else extra.get("test_subset"))
    if ds.num_classes != model.num_classes:
        raise ValueError(f"The checkpoint's model has {model.num_classes} classes but {name} has "
                         f"{ds.num_classes}: pass the dataset it was trained on (--dataset).")
    try:
        model.model_input(ds.test.x[:1])
    except ValueError as e:
        raise ValueError(f"The checkpoint's model does not take {name}'s inputs ({e}): pass the dataset it "
                         "was trained on (--dataset).") from None
    print(f"{type(model).__name__} from {a.checkpoint} on {ds.describe()}")
    for key, acc in final_scores(model, ds.test).items():
        print(f"test accuracy ({key}): {acc:.4f}")
    return 0


def cmd_compare(a) -> int:
    methods = a.methods
    ds = _load_data(a)
    print(ds.describe())
    print(f"widths {a.widths} (MLPs), channels {a.channels} (conv), {_epochs(a, ds)} epochs, batch {a.batch_size}, "
          f"seed {a.seed}, {torch.get_num_threads()} threads")
    rows = []
    for m in methods:
        start = time.perf_counter()
        out = run_one(m, ds, a)
        h = out["history"]
        evaluated = "val" if ds.val is not None else "test"
        for key, acc in out["scores"].items():
            row = dict(method=key, test_acc=acc, sec_per_epoch=h.seconds_per_epoch,
                       wall_s=time.perf_counter() - start,
                       **{f"layer_{evaluated}_acc": h.final.get(f"layer_{evaluated}_acc", [])})
            if key in out["val_scores"]:
                row["val_acc"] = out["val_scores"][key]
            rows.append(row)
        print(f"== {m}: done in {time.perf_counter() - start:.1f} s\n{h.table()}", flush=True)
        _print_notes(h)
    table = results_table(rows)
    print(table)
    if a.out:
        out = Path(a.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(dict(
            dataset=a.dataset, train_size=len(ds.train), test_size=len(ds.test), widths=a.widths,
            val_size=len(ds.val) if ds.val is not None else 0, val_seed=a.val_seed,
            epochs=_epochs(a, ds), batch_size=a.batch_size, seed=a.seed, torch=torch.__version__,
            hff_edu=__version__, machine=platform.platform(), threads=torch.get_num_threads(),
            rows=rows), indent=2))
        print(f"wrote {out}")
    return 0


def results_table(rows: list[dict]) -> str:
    """A Markdown table: method, (validation and) test accuracy, seconds per epoch, per-layer accuracy
    (on the validation split when there is one, else on the test split)."""
    val = any("val_acc" in r for r in rows)
    split = "val" if val else "test"
    lines = [f"| method |{' val acc |' if val else ''} test acc | s/epoch | per-layer {split} acc |",
             "|---|---|---|---|" + ("---|" if val else "")]
    for r in rows:
        layers = " / ".join(f"{v:.3f}" for v in r.get(f"layer_{split}_acc", []))
        val_cell = f" {r.get('val_acc', float('nan')):.4f} |" if val else ""
        lines.append(f"| {r['method']} |{val_cell} {r['test_acc']:.4f} | {r['sec_per_epoch']:.1f} | {layers} |")
    return "\n".join(lines)


def make_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="python -m hff_edu", description=(
        "Train and evaluate Forward-Forward (ff), Hyperspherical Forward-Forward (hff), backprop (bp) "
        "and local cross-entropy (local-ce) networks."))
    parser.add_argument("--version", action="version", version=f"hff_edu {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train one model, print a per-epoch table and the final test accuracy",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--method", choices=list(METHODS), required=True, help="which algorithm")
    _add_train_args(p)
    p.add_argument("--save", type=parse_out_path, default=None, metavar="PATH",
                   help="write a checkpoint (model + config + history)")
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
    p.add_argument("--test-subset", type=_whole(1), default=None, help="evaluate on this many test samples")
    p.add_argument("--device", type=parse_device, default=None, help="cpu or cuda")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("compare", help="train several methods with the same settings and print a results table")
    p.add_argument("--methods", type=parse_methods, default="hff,ff,bp,local-ce",
                   help="comma-separated methods (default %(default)s)")
    _add_train_args(p)
    p.add_argument("--out", type=parse_out_path, default=None, metavar="FILE", help="also write the results as JSON")
    p.set_defaults(func=cmd_compare)

    from .course import folder as course  # the course in a folder: hff-edu course DEST [--student]
    p = sub.add_parser("course", help="write the course (notebooks and a README) into a folder of your choice")
    course.add_course_arguments(p)
    p.set_defaults(func=course.cmd_course)
    return parser


def main(argv=None) -> int:
    """Run one command; returns the exit status (2 and one ``error:`` line for every user error)."""
    try:
        args = make_parser().parse_args(argv)
    except SystemExit as e:  # --help, --version, or a usage error (already printed on one line)
        return e.code if isinstance(e.code, int) else 2
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TrainingWarning)  # printed by the commands as "warning: ..."
            with parallel.cli_session(args):  # under torchrun: join the process group; rank 0 prints
                return args.func(args)
    except (ValueError, OSError, FloatingPointError, torch.OutOfMemoryError,
            parallel.ParallelError) as e:
        message = " ".join(line.strip() for line in str(e).splitlines() if line.strip())
        if isinstance(e, torch.OutOfMemoryError):
            message = f"out of memory ({message[:200]}): lower --batch-size, or use smaller --widths/--channels."
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
