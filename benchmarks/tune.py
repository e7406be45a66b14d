"""Tune every method the same way on a validation split: the same search library, the same
number of trials, the same epochs per trial, the same data; the test set is never touched.

    python benchmarks/tune.py                      # Fashion-MNIST MLPs 3x500: ff, hff, bp, local-ce
    python benchmarks/tune.py --quick              # digits, a few trials: under two minutes
    python benchmarks/tune.py --methods ff --trials 40     # resume a study with more trials

Search (Optuna's TPE sampler with a fixed seed; trials run one after another, so the same
seed gives the same study on the same machine):

- every method: the Adam learning rate;
- FF: the goodness threshold (as a fraction of the layer width), the label value, uniform
  or hard negatives, simultaneous or greedy schedule;
- HFF: the temperature tau, the margin m, prototypes per class K, their initialisation.

Trial 0 of every study is the package's defaults at the time of the study, so the old
defaults are scored on the same validation split inside the same budget. After training,
each trial scores every prediction readout the method has on the validation split (FF:
goodness over layers >= 2 or over all layers, one-pass softmax; HFF: last layer or the sum
over layers), and the trial's value is the best readout; which one is stored with it.

The studies live in ``benchmarks/results/tune_<dataset>.journal`` (Optuna's journal file:
append-only, text, resumable: run the command again with more ``--trials`` to continue);
the best settings per method are printed and written to ``tune_<dataset>.json`` and ``.md``.
"""
from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

from _common import header, metadata, parse_widths, parser, quick_defaults, setup, widths_label, \
    write_results
from hff_edu import data
from hff_edu.methods import DEFAULT_LR, SPECS, build, readouts_of
from hff_edu.training.trainer import accuracy, fit

#: every registered method with an MLP (what each tunes beyond the learning rate: its MethodSpec.tuning)
METHODS = tuple(name for name, spec in SPECS.items() if spec.mlp is not None)


class _Space:
    """The search space a method's ``MethodSpec.tuning`` draws from, on an optuna trial."""

    def __init__(self, trial):
        self.trial = trial

    def float(self, name, low, high, log=False):
        return self.trial.suggest_float(name, low, high, log=log)

    def int(self, name, low, high):
        return self.trial.suggest_int(name, low, high)

    def choice(self, name, options):
        return self.trial.suggest_categorical(name, list(options))


def suggest(method: str, trial, width: int) -> tuple[dict, dict]:
    """The settings one trial tries: ``(model kwargs, fit kwargs)``: the learning rate for every method,
    and what the method's declaration searches (``MethodSpec.tuning``)."""
    fit_kw = dict(lr=trial.suggest_float("lr", 1e-4, 2e-2, log=True))
    tuning = SPECS[method].tuning
    if tuning is None:
        return {}, fit_kw
    model_kw, extra_fit = tuning(_Space(trial), width)
    return model_kw, {**fit_kw, **extra_fit}


def defaults(method: str, width: int, num_classes: int, in_features: int) -> dict:
    """The package's current defaults, in the search space's terms (enqueued as trial 0)."""
    params = dict(lr=DEFAULT_LR[method])
    if SPECS[method].tuning_defaults is not None:
        params.update(SPECS[method].tuning_defaults(width, num_classes, in_features))
    return params


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1.0)
    return a == b


def readouts(method: str, model, split) -> dict:
    """Validation accuracy of every prediction readout the method declares."""
    return {name: accuracy(model, split, **kw) for name, kw in readouts_of(model).items()}


def objective(method, ds, a, device):
    def run(trial):
        model_kw, fit_kw = suggest(method, trial, a.widths[0])
        model = build(method, ds, a.widths, seed=a.seed, **model_kw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "no ETF for d < C*K - 1": the trial still counts
            fit(model, ds, epochs=a.epochs, batch_size=a.batch_size, seed=a.seed, progress=False,
                device=device, eval_on="val", **fit_kw)
        scores = readouts(method, model, ds.val)
        best = max(scores, key=scores.get)
        trial.set_user_attr("readouts", scores)
        trial.set_user_attr("readout", best)
        return scores[best]
    return run


def main(argv=None):
    import optuna
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--widths", type=parse_widths, default=[500, 500, 500])
    p.add_argument("--trials", type=int, default=30, help="trials per method (the same for every method)")
    p.add_argument("--epochs", type=int, default=5, help="epochs per trial (the same for every method)")
    p.add_argument("--subset", type=int, default=20000, help="training samples per trial (after the val split)")
    p.add_argument("--val", type=int, default=10000, help="validation samples carved from the training split")
    p.add_argument("--batch-size", type=int, default=100)
    a = p.parse_args(argv)
    quick_defaults(p, a, dataset="digits", widths=[128, 128], trials=4, epochs=10, subset=None, val=300)
    device = setup(a)
    methods = [m.strip() for m in a.methods.split(",") if m.strip()]
    ds = data.load(a.dataset, subset=a.subset, val=a.val, seed=a.seed)
    name = f"tune_{ds.name}" + ("_quick" if a.quick and ds.name != "digits" else "") + (f"_{a.tag}" if a.tag else "")
    settings = dict(dataset=ds.name, train=len(ds.train), val=len(ds.val), widths=widths_label(a.widths),
                    trials=a.trials, epochs=a.epochs, batch_size=a.batch_size, sampler="TPE", seed=a.seed)
    meta = metadata(a, device, settings, "python benchmarks/tune.py " + " ".join(argv or sys.argv[1:]))
    print(header(f"tuning on the validation split, {settings}", meta), flush=True)
    journal = Path(a.out_dir) / f"{name}.journal"
    journal.parent.mkdir(parents=True, exist_ok=True)
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows, start_all = [], time.perf_counter()
    for method in methods:
        study = optuna.create_study(
            study_name=f"{ds.name}-{widths_label(a.widths)}-{a.epochs}ep-{len(ds.train)}-{method}",
            storage=storage, direction="maximize", load_if_exists=True,
            sampler=optuna.samplers.TPESampler(seed=a.seed))
        if not study.trials:
            study.enqueue_trial(defaults(method, a.widths[0], ds.num_classes, ds.in_features), user_attrs={"defaults": True})
        todo = a.trials - len([t for t in study.trials if t.state.is_finished()])
        start = time.perf_counter()
        if todo > 0:
            study.optimize(objective(method, ds, a, device), n_trials=todo,
                           callbacks=[lambda s, t: print(f"  {method} trial {t.number}: {t.value:.4f} "
                                                         f"{t.user_attrs.get('readout')} {t.params}", flush=True)])
        done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        old = next(t for t in done if t.number == 0)
        best = study.best_trial
        now = defaults(method, a.widths[0], ds.num_classes, ds.in_features)
        changed = any(not _same(now.get(k), v) for k, v in old.params.items())
        rows.append(dict(method=method, trials=len(done), best_val=best.value, defaults_now=now, changed=changed, best_readout=best.user_attrs["readout"],
                         best_params=best.params, default_val=old.value, default_readout=old.user_attrs["readout"],
                         default_params=old.params, best_readouts=best.user_attrs["readouts"],
                         default_readouts=old.user_attrs["readouts"], seconds=time.perf_counter() - start,
                         trial_seconds=sum(t.duration.total_seconds() for t in done)))
        print(f"== {method}: best {best.value:.4f} ({best.user_attrs['readout']}) {best.params}; "
              f"defaults {old.value:.4f}", flush=True)
    total = time.perf_counter() - start_all
    md = [f"Tuning on the validation split of **{ds.name}** ({len(ds.train)} training samples per trial, "
          f"{len(ds.val)} validation samples, never the test set), MLP {widths_label(a.widths)}, "
          f"{a.trials} trials x {a.epochs} epochs per method, batch {a.batch_size}, Adam with the linear "
          f"cool-down, Optuna TPE (seed {a.seed}); trial 0 = the package defaults before tuning. "
          f"Command: `{meta['command'].strip()}` ({total / 60:.1f} min this run; the studies' trials took "
          + ", ".join(f"{r['method']} {r['trial_seconds'] / 60:.0f} min" for r in rows)
          + " of wall time, one thread, on a machine shared with other jobs).", "",
          "A default is changed where the best trial beats trial 0 by more than twice the validation noise "
          "(one binomial standard error, sqrt(p(1-p)/n) on the validation split); the last column says "
          "whether the package's defaults now differ from trial 0's.", "",
          "| method | val acc, old defaults | val acc, best trial | gain (points) | noise, 1 s.e. (points) "
          "| best readout | best settings | package defaults changed |",
          "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in r["best_params"].items())
        noise = 100 * (r["best_val"] * (1 - r["best_val"]) / len(ds.val)) ** 0.5
        md.append(f"| {r['method']} | {100 * r['default_val']:.2f} % ({r['default_readout']}) | "
                  f"{100 * r['best_val']:.2f} % | {100 * (r['best_val'] - r['default_val']):+.2f} | {noise:.2f} | "
                  f"{r['best_readout']} | {params} | {'yes' if r['changed'] else 'no'} |")
    table = "\n".join(md)
    print("\n" + table)
    path = write_results(name, a, meta, rows, extra=dict(markdown=table))
    (path.parent / f"{name}.md").write_text(table + "\n")
    print(f"\nwrote {path} and {path.with_suffix('.md')}; studies in {journal}")
    return rows


if __name__ == "__main__":
    main()
