"""Parallel training (hff_edu.training.parallel): a pipelined run computes what train.fit computes, a
data-parallel run what one process computes, and a setup that cannot work fails fast and says why.

The multi-process tests start gloo processes on the CPU; to keep the suite quick, several model
kinds share one launch (the workers below run them one after the other)."""
import copy
import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

from hff_edu import checkpoint, cli, data, parallel, train
from hff_edu.core.augment import RandomCropFlip
from hff_edu.methods import build
from hff_edu.training.parallel.command_line import _pipeline_in_group as pipeline_in_group
from hff_edu.core.protocol import LocalModel
from hff_edu.viz import parallel_views as pv

ROOT = Path(__file__).resolve().parent.parent
KW = dict(epochs=2, batch_size=64, lr=3e-3, seed=0, progress=False)


@pytest.fixture(scope="module")
def small():
    return data.load("digits", subset=300, test_subset=120, seed=0)  # 300 = 4 x 64 + 44: a partial last batch


@pytest.fixture(scope="module")
def odd():
    return data.load("digits", subset=257, test_subset=120, seed=0)  # last batch of 1: one rank gets no sample


def _sizes(method):
    return [8, 16, 16] if method.endswith("conv") else [32, 32, 32, 32]


def _pair(method, ds, **kwargs):
    m = build(method, ds, _sizes(method), seed=0, **kwargs)
    return m, copy.deepcopy(m)


def assert_same_weights(a, b, atol=0.0, skip=()):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        if any(s in k for s in skip):
            continue
        torch.testing.assert_close(sb[k], sa[k], atol=atol, rtol=0 if atol == 0 else 1e-4, msg=k)


def assert_same_records(h1, h2, exact=True, n_test=None):
    assert h1.method == h2.method and len(h1.records) == len(h2.records)
    for r1, r2 in zip(h1.records, h2.records):
        np.testing.assert_allclose(r2["train_loss"], r1["train_loss"], rtol=1e-5, atol=1e-6)
        tol = 0 if exact else 2.5 / n_test  # data parallel: a float-rounding tie may flip a prediction or two
        assert abs(r2["test_acc"] - r1["test_acc"]) <= tol
        np.testing.assert_allclose(r2["layer_test_acc"], r1["layer_test_acc"], atol=tol)


# ----------------------------------------------------------------------------
# the pipeline

def test_a_two_stage_pipeline_computes_what_fit_computes(small):
    seq, pipe = _pair("hff", small)
    h = train.fit(seq, small, **KW)
    run = parallel.pipeline_fit(pipe, small, stages=2, timeout=120, **KW)
    assert_same_weights(seq, pipe)  # the same arithmetic in the same order: bit for bit
    assert_same_records(h, run.history)
    assert run.plan.units == [(0, 2), (2, 4)] and run.history.config["stages"] == [[0, 2], [2, 4]]
    assert not pipe.training and run.samples_per_s > 0
    steps = KW["epochs"] * -(-len(small.train) // KW["batch_size"])
    forward = {}  # (stage, step) -> the forward intervals of its layers
    for e in run.timeline:
        if e["kind"] == "forward":
            forward.setdefault((e["stage"], e["step"]), []).append(e)
    assert {k: len(v) for k, v in forward.items()} == {(s, t): 2 for s in (0, 1) for t in range(steps)}
    for t in range(steps):  # the forward lock: stage 1 starts batch t only after stage 0's forward on it
        assert min(e["start"] for e in forward[(1, t)]) >= max(e["end"] for e in forward[(0, t)])
    assert {e["kind"] for e in run.timeline} >= {"forward", "backward", "step", "recv", "evaluate"}


def _fit_kwargs(extra: dict) -> dict:
    """KW with ``extra``; ``augment=True`` becomes a fresh random crop-and-flip with seed 0 (each run
    needs its own: the augmentation's generator advances as it is used)."""
    kw = dict(KW, **extra)
    if kw.get("augment") is True:
        kw["augment"] = RandomCropFlip(padding=1, flip=True, seed=0)
    return kw


def _pipeline_jobs(rank, world_size, jobs):
    """Several pipelined trainings in one launch (the test's own worker)."""
    return [parallel.run_stage(rank, world_size, model, ds if rank == 0 else None, plan, cfg)
            for model, ds, plan, cfg in jobs]


def test_every_local_kind_pipelines_exactly(small):
    cases = [("local-ce", {}, dict(schedule="greedy", epochs=4), 2), ("ff", dict(negatives="uniform"), {}, [1, 3]),
             ("hff-conv", {}, dict(augment=True), 2), ("local-ce-conv", dict(head_dim=12), {}, [2, 1]),
             ("ff-conv", dict(label_every_block=True), {}, 2)]
    jobs, expected = [], []
    for method, model_kw, fit_kw, stages in cases:
        seq, pipe = _pair(method, small, **model_kw)
        expected.append((seq, train.fit(seq, small, **_fit_kwargs(fit_kw))))
        plan, cfg = parallel.prepare_pipeline(pipe, small, stages, timeout=120,
                                              **{k: v for k, v in _fit_kwargs(fit_kw).items() if k != "progress"})
        jobs.append((pipe, small, plan, cfg))
    outs = parallel.launch(_pipeline_jobs, 2, jobs, timeout=120)
    for (method, *_), (seq, h), (pipe, _, plan, cfg), out in zip(cases, expected, jobs, outs):
        run = parallel.finish_pipeline(pipe, out, plan, cfg)
        assert_same_weights(seq, pipe, atol=1e-6)  # FF's head sums its features in one product, not layer by layer
        assert_same_records(h, run.history)


def test_backprop_refuses_pipelining_and_says_why(small):
    for method in ("bp", "bp-conv"):
        model = build(method, small, _sizes(method), seed=0)
        with pytest.raises(ValueError, match="backward lock") as err:
            parallel.pipeline_fit(model, small, stages=2)
        assert "gradients back" in str(err.value) and "data parallel" in str(err.value)


def test_bad_pipeline_setups_fail_before_any_process_starts(small):
    hff4 = build("hff", small, [16] * 4, seed=0)
    with pytest.raises(ValueError, match="only 4 layers"):
        parallel.pipeline_fit(hff4, small, stages=5)
    with pytest.raises(ValueError, match="summing to the model's 4 layers"):
        parallel.plan_stages(hff4, small.input_shape, [2, 1])
    with pytest.raises(ValueError, match="forward lock"):
        parallel.pipeline_fit(build("ff", small, [16, 16], seed=0, negatives="hard"), small)
    with pytest.raises(ValueError, match="3 devices for 2 stages"):
        parallel.pipeline_fit(hff4, small, stages=2, device=["cpu"] * 3)
    with pytest.raises(ValueError, match="timeout"):
        parallel.pipeline_fit(hff4, small, stages=2, timeout=0)


def test_the_split_balances_the_slowest_stage():
    assert parallel.split_units([1, 1, 1, 1], 2) == [2, 2]
    assert parallel.split_units([4, 1, 1, 1, 1], 2) == [1, 4]
    assert parallel.split_units([1, 1, 1], 3) == [1, 1, 1]
    assert parallel.split_units([0.064, 1, 1, 1], 2) == [2, 2]  # 784 inputs, then 1000-wide layers
    for costs, s in (([3, 1, 4, 1, 5, 9, 2, 6], 3), ([2, 7, 1, 8, 2, 8], 4)):
        def worst(sizes):
            bounds = np.cumsum([0] + list(sizes))
            return max(sum(costs[a:b]) for a, b in zip(bounds[:-1], bounds[1:]))
        every = [np.diff([0, *cuts, len(costs)]) for cuts in itertools.combinations(range(1, len(costs)), s - 1)]
        sizes = parallel.split_units(costs, s)
        assert len(sizes) == s and sum(sizes) == len(costs) and min(sizes) >= 1
        assert worst(sizes) == min(worst(e) for e in every)


def test_the_plan_counts_costs_and_messages(small):
    plan = parallel.plan_stages(build("hff", small, [100, 100, 100, 100], seed=0), small.input_shape, 2)
    assert plan.costs == [64 * 100, 100 * 100, 100 * 100, 100 * 100]  # multiply-adds per sample
    assert plan.units == [(0, 2), (2, 4)] and plan.ideal_speedup == pytest.approx(36400 / 20000)
    assert plan.floats_per_sample(0) == 100 + 1  # the activation and the label
    ff_plan = parallel.plan_stages(build("ff", small, [100, 100, 100], seed=0, negatives="uniform"), small.input_shape, [2, 1])
    assert ff_plan.modules[-1][-1] == "head"  # the softmax head trains on the last stage
    assert ff_plan.floats_per_sample(0) == 3 * 100 + 100 + 1  # pos, neg, neutral; layer 2's head feature; label


# ----------------------------------------------------------------------------
# data parallelism

def test_data_parallel_fit_computes_what_one_process_computes(odd):
    seq, dp = _pair("hff", odd)
    h = train.fit(seq, odd, **KW)
    h2 = parallel.data_parallel_fit(dp, odd, world_size=2, timeout=120, **KW)
    assert_same_weights(seq, dp, atol=2e-5)
    assert_same_records(h, h2, exact=False, n_test=len(odd.test))


def _data_parallel_jobs(rank, world_size, jobs):
    """Several data-parallel trainings in one launch (the test's own worker)."""
    out = []
    for model, ds, kw in jobs:
        replica = parallel.DataParallel(model, timeout=120)
        history = train.fit(replica, ds, device="cpu", **kw)
        out.append((replica.unwrap().state_dict(), history.to_dict()))
    return out


def test_every_model_kind_trains_data_parallel_like_one_process(small, odd):
    # hff-conv with SGD: the last block's BatchNorm shift is nearly redundant (the AuxConv's own
    # BatchNorm removes any constant shift wherever the ReLU is active), so its gradient is close to
    # 0 and largely float noise, whose sign depends on the order of the sums. Adam's normalised
    # steps turn that noise into lr-sized moves (0.03 apart after 10 steps); SGD's step is
    # proportional to the gradient, so the noise stays noise.
    cases = [("bp", small, {}, {}), ("ff", small, {}, {}), ("ff", small, dict(negatives="hard"), {}),
             ("local-ce", small, {}, dict(schedule="greedy", epochs=4)), ("bp-conv", odd, {}, dict(augment=True)),
             ("ff-conv", small, {}, {}), ("hff-conv", small, {}, dict(optimizer="sgd", lr=0.05))]
    jobs, expected = [], []
    for method, ds, model_kw, fit_kw in cases:
        seq, dp = _pair(method, ds, **model_kw)
        expected.append((seq, train.fit(seq, ds, **_fit_kwargs(fit_kw))))
        jobs.append((dp, ds, _fit_kwargs(fit_kw)))
    outs = parallel.launch(_data_parallel_jobs, 2, jobs, timeout=120)
    for (method, ds, *_), (seq, h), (dp, *_), (state, hist) in zip(cases, expected, jobs, outs):
        dp.load_state_dict(state)
        assert_same_weights(seq, dp, atol=5e-5)
        assert_same_records(h, train.History.from_dict(hist), exact=False, n_test=len(ds.test))


def _sharded_vs_data_parallel(rank, world_size, jobs):
    out = []
    for model, ds, kw in jobs:
        replica = parallel.DataParallel(model, timeout=120)
        train.fit(replica, ds, device="cpu", **kw)
        out.append(replica.unwrap().state_dict())
    return out


def test_data_parallel_is_one_process_summing_the_same_shards_to_the_bit(small):
    # the only difference between data parallelism and one process on whole batches is the order of the
    # sums: one process that sums the ranks' slices itself (ShardedSteps) computes every bit the same
    cases = [("hff", {}), ("local-ce", {}), ("ff", dict(negatives="uniform")), ("ff", {})]
    jobs, sharded = [], []
    for method, model_kw in cases:
        one, dp = _pair(method, small, **model_kw)
        train.fit(parallel.ShardedSteps(one, shards=2), small, **KW)
        sharded.append(one)
        jobs.append((dp, small, dict(KW)))
    states = parallel.launch(_sharded_vs_data_parallel, 2, jobs, timeout=120)
    for (method, _), one, state in zip(cases, sharded, states):
        for k, v in one.state_dict().items():
            assert torch.equal(v, state[k]), f"{method}: {k} differs between ShardedSteps and DataParallel"


def test_sharded_steps_refuses_batchnorm_and_bad_shards(small):
    with pytest.raises(ValueError, match="BatchNorm"):
        parallel.ShardedSteps(build("hff-conv", small, [4, 8]))
    with pytest.raises(ValueError, match="shards=0"):
        parallel.ShardedSteps(build("hff", small, [8]), shards=0)


def test_weights_apart():
    a = nn.Linear(3, 2)
    b = copy.deepcopy(a)
    assert parallel.weights_apart(a, b) == 0.0
    with torch.no_grad():
        b.weight.mul_(1.5)
        b.bias.mul_(1.5)
    assert parallel.weights_apart(a, b) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="different parameters"):
        parallel.weights_apart(a, nn.Linear(3, 3, bias=False))


def test_sync_batchnorm_equals_batchnorm_in_one_process(gloo_group):
    torch.manual_seed(0)
    for bn, shape in ((nn.BatchNorm2d(3), (6, 3, 4, 5)), (nn.BatchNorm1d(4), (7, 4))):
        ref, sync = copy.deepcopy(bn), bn
        wrapped = parallel.DataParallel(_Holder(sync))
        assert type(sync) in (parallel.SyncBatchNorm1d, parallel.SyncBatchNorm2d)
        with torch.no_grad():
            ref.weight.uniform_(0.5, 1.5), ref.bias.uniform_(-1, 1)
            sync.weight.copy_(ref.weight), sync.bias.copy_(ref.bias)
        x = torch.randn(*shape) * 2 + 1
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        g = torch.randn(*shape)
        (ref(xa) * g).sum().backward()
        (sync(xb) * g).sum().backward()
        torch.testing.assert_close(xb.grad, xa.grad, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(sync.weight.grad, ref.weight.grad, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(sync.running_var, ref.running_var)
        torch.testing.assert_close(sync.running_mean, ref.running_mean)
        wrapped.unwrap()
        assert type(sync) in (nn.BatchNorm1d, nn.BatchNorm2d)


class _Holder(LocalModel):
    def __init__(self, m):
        super().__init__(2, {})
        self.m = m


def test_shards_cover_the_batch_and_differ_by_at_most_one():
    for n in range(0, 12):
        for w in (1, 2, 3, 5):
            bounds = [parallel.shard_bounds(n, r, w) for r in range(w)]
            assert bounds[0][0] == 0 and bounds[-1][1] == n
            assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
            sizes = [b - a for a, b in bounds]
            assert max(sizes) - min(sizes) <= 1


# ----------------------------------------------------------------------------
# the command line: torchrun and --stages

def test_torchrun_and_stages_train_what_one_process_trains(tmp_path, capsys):
    args = ["train", "--method", "hff", "--dataset", "digits", "--subset", "300", "--test-subset", "100",
            "--epochs", "1", "--widths", "2x32", "--batch-size", "64", "--quiet", "--seed", "0"]
    assert cli.main(args + ["--save", str(tmp_path / "one.pt")]) == 0
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    torchrun = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                               "-m", "hff_edu", *args, "--timeout", "120", "--save", str(tmp_path / "dp.pt")],
                              env=env, capture_output=True, text=True, timeout=600)
    assert torchrun.returncode == 0, torchrun.stderr[-3000:]
    assert torchrun.stdout.count("final test accuracy (hff last)") == 1  # rank 0 prints, the others are quiet
    stages = subprocess.run([sys.executable, "-m", "hff_edu", *args, "--stages", "2", "--timeout", "120",
                             "--save", str(tmp_path / "pipe.pt")], env=env, capture_output=True, text=True,
                            timeout=600)
    assert stages.returncode == 0, stages.stderr[-3000:]
    one = checkpoint.load(tmp_path / "one.pt")[0]
    assert_same_weights(one, checkpoint.load(tmp_path / "dp.pt")[0], atol=2e-5)
    assert_same_weights(one, checkpoint.load(tmp_path / "pipe.pt")[0])


# ----------------------------------------------------------------------------
# clear errors, never a hang

@pytest.fixture
def gloo_group():
    parallel.init_process_group(0, 1, parallel.free_port(), timeout=30)
    yield
    torch.distributed.destroy_process_group()


def test_a_missing_rendezvous_times_out_with_a_clear_error():
    start = time.perf_counter()
    with pytest.raises(parallel.ParallelError, match="rendezvous .* did not complete within 2 s"):
        parallel.init_process_group(0, 2, parallel.free_port(), timeout=2)
    assert time.perf_counter() - start < 30
    assert not torch.distributed.is_initialized()


def test_torchrun_environment_must_be_complete(monkeypatch):
    for v in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(parallel.ParallelError, match="WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT not set"):
        parallel.init_from_env()


def test_data_parallel_needs_a_process_group(small):
    with pytest.raises(parallel.ParallelError, match="No torch.distributed process group"):
        parallel.DataParallel(build("hff", small, [16], seed=0))


def test_a_world_size_that_does_not_match_the_stages_is_refused(small, gloo_group):
    model = build("hff", small, [16, 16], seed=0)
    plan, cfg = parallel.prepare_pipeline(model, small, 2, epochs=1, timeout=30)
    with pytest.raises(parallel.ParallelError, match="1 processes but the pipeline has 2 stages"):
        parallel.run_stage(0, 1, model, small, plan, cfg)
    with pytest.raises(parallel.ParallelError, match="torchrun started 1 processes but --stages 2"):
        pipeline_in_group(model, small, 2, 30, dict(epochs=1))


def test_a_one_stage_pipeline_in_a_group_is_fit(small, gloo_group):
    seq, pipe = _pair("hff", small)
    h = train.fit(seq, small, **KW)
    h2 = pipeline_in_group(pipe, small, 1, 30, dict(KW))
    assert_same_weights(seq, pipe)
    assert_same_records(h, h2)


def _fails_on_rank_1(rank, world_size):
    if rank == 1:
        raise ValueError("boom")
    parallel.Comm(timeout=600).recv(torch.zeros(3), 1, 0, "waiting for rank 1")


def test_a_failing_rank_stops_the_run_with_its_error_not_a_hang():
    start = time.perf_counter()
    with pytest.raises(parallel.ParallelError) as err:
        parallel.launch(_fails_on_rank_1, 2, timeout=600)
    assert time.perf_counter() - start < 300  # released when rank 1 left, not at the 600 s timeout
    text = str(err.value)
    assert text.startswith("rank 1 of 2 failed first: ValueError: boom")
    assert "rank 0 then" in text and "another process stopped" in text


# ----------------------------------------------------------------------------
# the simulated schedule and the figures

def test_the_simulated_schedules_show_the_locks():
    for s, t in ((2, 5), (4, 10)):
        local = parallel.simulated_timeline(s, t, "local", forward=1.0, backward=2.0)
        bp = parallel.simulated_timeline(s, t, "backprop", forward=1.0, backward=2.0)
        assert max(e["end"] for e in bp) == pytest.approx(t * s * 3.0)  # everything waits for everything
        assert max(e["end"] for e in local) == pytest.approx((s - 1) * 1.0 + t * 3.0)  # fill, then all busy
        assert len(local) == len(bp) == 2 * s * t
    with pytest.raises(ValueError, match="Unknown method"):
        parallel.simulated_timeline(2, 2, "async")


def test_the_timeline_figure_draws_one_bar_per_interval():
    events = parallel.simulated_timeline(3, 4, "local")
    fig = pv.plot_timeline(events, unit="s")
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    assert len(fig.axes[0].patches) == len(events)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["stage 0", "stage 1", "stage 2"]
    fig = pv.plot_timeline(events, steps=(1, 3))
    assert len(fig.axes[0].patches) == sum(1 <= e["step"] < 3 for e in events)
    fig = pv.plot_timeline({"backprop": parallel.simulated_timeline(2, 2, "backprop"), "local": events})
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["backprop", "local"]
    with pytest.raises(ValueError, match="no events"):
        pv.plot_timeline(events, steps=(10, 12))
    with pytest.raises(ValueError, match="stage, kind, step, start and end"):
        pv.plot_timeline([dict(stage=0, start=0.0)])


def test_the_timeline_figure_uses_the_palette_labels_micro_batches_and_says_how_busy_each_stage_was():
    from matplotlib.colors import to_rgb

    from hff_edu.core.palette import OKABE_ITO
    events = [dict(stage=0, kind="forward", step=0, label="0.1", start=0.0, end=1.0),
              dict(stage=0, kind="backward", step=0, start=1.0, end=3.0),
              dict(stage=1, kind="recv", step=0, start=0.0, end=1.0),
              dict(stage=1, kind="forward", step=0, start=1.0, end=2.0)]
    fig = pv.plot_timeline(events, unit="s")
    ax = fig.axes[0]
    assert "0.1" in [t.get_text() for t in ax.texts]  # the label replaces the step number
    assert ax.get_ylabel() and ax.get_xlabel()
    work = {pv.KIND_COLORS[k] for k in pv.WORK} | {pv.KIND_COLORS["send"], pv.KIND_COLORS["evaluate"]}
    assert work <= set(OKABE_ITO)  # colour-blind safe
    assert to_rgb(ax.patches[0].get_facecolor()) == pytest.approx(to_rgb(pv.KIND_COLORS["forward"]))
    busy = pv.stage_busy(events)
    assert busy == {0: pytest.approx(1.0), 1: pytest.approx(1 / 3)}  # waiting does not count as work
    assert pv.both_busy(events) == pytest.approx(1 / 3)  # both compute from 1 to 2 of 0..3
    fig = pv.plot_timeline(events, kind_labels={"forward": "forward pass"})
    assert "forward pass" in [t.get_text() for t in fig.legends[0].get_texts()]
    with pytest.raises(ValueError, match="no events"):
        pv.stage_busy([])
    with pytest.raises(ValueError, match="no events"):
        pv.both_busy([])


def test_the_throughput_figure_writes_the_ratios():
    rows = [dict(config="sequential", samples_per_s=100.0), dict(config="pipeline", samples_per_s=180.0)]
    fig = pv.plot_throughput(rows, ideal=1.9)
    ax = fig.axes[0]
    assert len(ax.patches) == 2
    texts = [t.get_text() for t in ax.texts]
    assert any("1.80x" in t for t in texts) and any("1.00x" in t for t in texts)
    with pytest.raises(ValueError, match="reference"):
        pv.plot_throughput(rows, reference="nope")
    with pytest.raises(ValueError, match="samples_per_s"):
        pv.plot_throughput([dict(config="a")])


def test_a_peer_that_stops_during_the_rendezvous_is_named_not_a_timeout(monkeypatch):
    # a rank that fails right after starting can close its connections while the others still build
    # the process group: that is another process stopping, not the rendezvous timing out
    from hff_edu.training.parallel import processes

    def closed(*a, **k):
        raise RuntimeError("Gloo connectFullMesh failed with [pair.cc:561] Connection closed by peer [127.0.0.1]:43914")

    monkeypatch.setattr(processes.dist, "init_process_group", closed)
    with pytest.raises(parallel.ParallelError) as err:
        processes.init_process_group(0, 2, 29999, timeout=600)
    text = str(err.value)
    assert "another process stopped" in text and "did not complete within" not in text and "closed by peer" in text
