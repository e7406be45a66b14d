"""hff_edu.measuring (clocks, inference, flops, training cost), its figures (hff_edu.viz.timing_views) and the benchmark scripts' --quick plumbing."""
import importlib.util
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from hff_edu import memory, timing  # noqa: E402
from hff_edu.viz import timing_views as tv  # noqa: E402

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


# -- counting and timing --------------------------------------------------------

@pytest.mark.parametrize("method,kwargs,expected", [
    ("ff", dict(mode="goodness"), 5), ("ff", dict(mode="softmax"), 1),
    ("hff", dict(rule="last"), 1), ("hff", dict(rule="sum"), 1), ("bp", {}, 1), ("local-ce", {}, 1)])
def test_count_forward_passes(method, kwargs, expected):
    model = timing.make_model(method, 40, [16, 16], 5)
    assert timing.count_forward_passes(model, torch.randn(3, 40), **kwargs) == expected
    assert not any(m._forward_hooks for m in model.modules())  # the hook is removed again


def test_time_calls_interleaves_and_counts():
    calls = []
    fns = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    times = timing.time_calls(fns, repeats=4, warmup=1, min_block_s=0.0)
    assert {k: len(v) for k, v in times.items()} == {"a": 4, "b": 4}
    timed = calls[4:]  # 2 x (1 warm-up + 1 calibration) first
    assert timed == ["a", "b", "b", "a", "a", "b", "b", "a"]  # round robin, order rotated
    with pytest.raises(ValueError, match="repeats"):
        timing.time_calls(fns, repeats=0)


def test_time_inference_and_speedups():
    model = timing.make_model("hff", 30, [8], 3)
    out = timing.time_inference(model, torch.randn(5, 30), repeats=3, warmup=1, min_block_s=0.001)
    assert out["samples_per_s"] > 0 and out["repeats"] == 3
    assert out["q1_s"] <= out["median_s"] <= out["q3_s"]
    rows = [dict(num_classes=10, batch_size=4, variant="ff goodness", median_s=2.0),
            dict(num_classes=10, batch_size=4, variant="hff last", median_s=0.25)]
    (s,) = timing.speedups(rows)
    assert s["ratio"] == pytest.approx(8.0) and s["ratio_over_C"] == pytest.approx(0.8)


def test_inference_vs_classes_rows():
    rows = timing.inference_vs_classes([2, 4], [3], in_features=20, widths=[8], repeats=2, warmup=1,
                                       variants=["ff goodness", "hff last"], min_block_s=0.001)
    assert len(rows) == 4
    assert {(r["num_classes"], r["variant"]): r["passes"] for r in rows} == {
        (2, "ff goodness"): 2, (4, "ff goodness"): 4, (2, "hff last"): 1, (4, "hff last"): 1}
    with pytest.raises(ValueError, match="Unknown variant"):
        timing.inference_vs_classes([2], [1], variants=["ff fast"])


def test_time_calls_clocks():
    burn = lambda: sum(range(20000))  # noqa: E731
    for clock in ("wall", "cpu"):
        times = timing.time_calls({"burn": burn}, repeats=2, warmup=0, min_block_s=0.0, clock=clock)
        assert len(times["burn"]) == 2 and all(t > 0 for t in times["burn"])
    with pytest.raises(ValueError, match="Unknown clock"):
        timing.time_calls({"burn": burn}, repeats=1, clock="gpu")


def test_square_matmul_and_peak():
    fn, flops = timing.square_matmul(8, seed=3)
    assert flops == 2 * 8 ** 3
    out = fn()
    assert out.shape == (8, 8) and torch.equal(out, fn())  # the same fixed operands every call
    with pytest.raises(ValueError, match="positive integer"):
        timing.square_matmul(0)
    # the peak is the best rate over the sizes: FLOPs / seconds per call
    peak = timing.peak_of({"a": 1.0, "b": 0.5}, {"a": 2e9, "b": 2e9})
    assert peak["by_size"] == {"a": 2.0, "b": 4.0} and peak["gflops"] == 4.0 and peak["size"] == "b"
    measured = timing.matmul_peak(sizes=(16, 32), repeats=2, min_block_s=0.001)
    assert set(measured["by_size"]) == {16, 32} and measured["gflops"] == max(measured["by_size"].values())
    assert measured["threads"] == torch.get_num_threads()
    with pytest.raises(ValueError, match="sizes is empty"):
        timing.matmul_peak(sizes=())


def test_matmul_replay_records_every_product(digits):
    lin = torch.nn.Linear(12, 5)
    x = torch.randn(7, 12, requires_grad=True)
    replay, flops = timing.matmul_replay(lambda: lin(x).square().sum().backward())
    # forward addmm, and backward's two products (weight and input gradients): 3 x 2*7*12*5
    assert flops == 3 * 2 * 7 * 12 * 5 == timing.count_flops(lambda: lin(x).square().sum().backward())["total"]
    assert timing.count_flops(replay)["total"] == flops  # the replay runs exactly those products
    model = timing.make_model("hff", 64, [16, 16], 10)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    replay, flops = timing.training_matmuls(model, digits.train, batch_size=32)
    assert flops == timing.training_flops(timing.make_model("hff", 64, [16, 16], 10), digits.train, 32)["total"]
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # measured on a copy
    assert timing.count_flops(replay)["total"] == flops


def test_machine_info_records_what_timings_depend_on():
    info = timing.machine_info()
    for key in ("machine", "cpu", "torch", "device", "threads"):
        assert key in info
    assert info["threads"] == torch.get_num_threads()


def test_profile_ops_finds_the_matmul():
    # Large enough that the matrix product dominates the transposes and the dispatch around it.
    lin = torch.nn.Linear(512, 512)
    x = torch.randn(256, 512)
    with torch.inference_mode():
        prof = timing.profile_ops(lambda: lin(x), calls=2)
    assert {"aten::addmm", "aten::linear"} & {o["name"] for o in prof["ops"][:2]}
    assert prof["total_ms"] > 0 and abs(sum(o["share"] for o in prof["ops"]) - 1) < 0.2


def test_time_training(digits):
    from hff_edu.methods import build
    models = {m: build(m, digits, [16], seed=0) for m in ("hff", "bp")}
    calls = []
    probe = lambda: calls.append(1)  # noqa: E731
    out = timing.time_training(models, digits.train, batch_size=100, steps=4, blocks=2, warmup_steps=1,
                               probes={"probe": probe}, probe_block_s=0.0)
    for m in models:
        r = out[m]
        assert r["epoch_s"] > 0 and r["steps_timed"] == 4 and r["steps_per_epoch"] == 14
        assert len(r["block_step_s"]) == 2 and r["step_s"] * 14 == pytest.approx(r["epoch_s"])
        assert r["warmup_s"] > 0
    assert out["probe"]["calls_per_block"] == 1 and len(out["probe"]["block_call_s"]) == 2
    assert len(calls) == 1 + 2  # one calibration call, then one per block
    with pytest.raises(ValueError, match="distinct names"):
        timing.time_training(models, digits.train, steps=1, probes={"hff": probe})


def test_time_training_warms_up_the_last_smaller_batch(digits, monkeypatch):
    from hff_edu import compile as fast
    from hff_edu.methods import build
    sizes = []
    from hff_edu.measuring import training_cost
    real = training_cost.train_step

    def spy(model, opt, x, y, generator=None, active=None):
        sizes.append((type(model).__name__, x.shape[0]))
        return real(model, opt, x, y, generator, active)

    monkeypatch.setattr(training_cost, "train_step", spy)
    split = digits.train.__class__(digits.train.x[:250], digits.train.y[:250])  # 3 batches of 100: 100, 100, 50
    compiled = fast.CompiledModel(build("bp", digits, [8], seed=0), backend="aot_eager")
    out = timing.time_training({"bp": compiled}, split, batch_size=100, steps=None, blocks=1, warmup_steps=1)
    assert sizes[:2] == [("CompiledModel", 100), ("CompiledModel", 50)]  # warm-up: both shapes
    assert [n for _, n in sizes[2:]] == [100, 100, 50]  # the timed epoch
    assert out["bp"]["steps_timed"] == 3
    torch.compiler.reset()


# -- memory accounting ----------------------------------------------------------

def test_live_tensors_counts_new_storage_once():
    pre = torch.zeros(1000)
    with memory.LiveTensors() as tr:
        a = torch.ones(1000)            # new: 4000 bytes
        v = a.view(10, 100)             # a view: no new storage
        pre.add_(1)                     # in place on storage that existed before: not counted
        b = a * 2                       # new: 4000 bytes
        del a, v, b
        c = torch.ones(500)             # after the frees: 2000 bytes
    peak, _ = tr.peak()
    assert peak == 8000
    assert sum(r["nbytes"] for r in tr.all_records()) == 10000
    assert c.numel() == 500


def test_activation_memory_bp_grows_local_flat():
    x, y = torch.randn(256, 64), torch.randint(0, 4, (256,))
    layer = 256 * 128 * 4  # one layer's activation in bytes
    peak = {}
    for method in ("bp", "hff", "local-ce", "ff"):
        for depth in (2, 6):
            model = timing.make_model(method, 64, [128] * depth, 4)
            peak[method, depth] = memory.activation_memory(model, x, y)["activation_peak"]
    # backprop keeps one ReLU output per layer: 4 more layers = 4 more activations
    assert peak["bp", 6] - peak["bp", 2] == pytest.approx(4 * layer, rel=0.05)
    for m in ("hff", "local-ce", "ff"):
        assert peak[m, 6] == pytest.approx(peak[m, 2], rel=0.05), m


def test_activation_memory_leaves_out_grads_and_reports_state():
    model = timing.make_model("hff", 32, [64, 64], 3)
    out = memory.activation_memory(model, torch.randn(16, 32), torch.randint(0, 3, (16,)))
    assert out["grad_bytes"] == out["param_bytes"]  # every parameter got a gradient
    # Adam: two moments per parameter (and a scalar step count)
    assert 2 * out["param_bytes"] <= out["state_bytes"] < 2 * out["param_bytes"] + 1024
    assert out["left_after"] < 1024 and out["at_peak"]


# -- figures ----------------------------------------------------------------------

def _inference_rows():
    rows = []
    for c in (2, 10):
        for b in (1, 8):
            for v, t in (("ff goodness", c * 1e-3), ("hff last", 1e-3)):
                rows.append(dict(num_classes=c, batch_size=b, variant=v, median_s=t,
                                 samples_per_s=b / t, ms_per_batch=1e3 * t))
    return rows


def test_plot_inference_vs_classes():
    fig = tv.plot_inference_vs_classes(_inference_rows())
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert len(fig.axes[-1].lines) == 3  # y = C and one line per batch size
    fig2 = tv.plot_inference_vs_classes(_inference_rows(), batch_sizes=[8], metric="ms_per_batch")
    assert len(fig2.axes) == 2
    with pytest.raises(ValueError, match="metric"):
        tv.plot_inference_vs_classes(_inference_rows(), metric="flops")
    with pytest.raises(ValueError, match="No rows"):
        tv.plot_inference_vs_classes([])
    plt.close("all")


def test_plot_training_memory_accuracy_profile():
    cost = [dict(method=m, widths=w, epoch_s=s) for w in ("2x10", "2x20")
            for m, s in (("ff", 3.0), ("hff", 1.0), ("bp", 1.2))]
    fig = tv.plot_training_cost(cost)
    assert len(fig.axes[0].patches) == 6
    both = [dict(r, path=p, epoch_s=r["epoch_s"] / (2 if p == "compiled" else 1)) for r in cost
            for p in ("plain", "compiled")]
    fig = tv.plot_training_cost(both)
    bars = fig.axes[0].patches
    assert len(bars) == 12 and sum(b.get_hatch() == "//" for b in bars) == 6  # the fast path hatched
    labels = [t.get_text() for t in fig.axes[0].texts]
    # compiled hff (0.5 s) is compared with compiled bp (0.6 s), not with plain bp (1.2 s)
    assert sum("0.83x bp" in t for t in labels) == 4 and not any("0.42x" in t for t in labels)
    mem = [dict(method=m, depth=d, activation_peak=d * 2**20 if m == "bp" else 2**20,
                one_layer_activation=2**20, batch_size=4, width=2) for m in ("bp", "hff") for d in (2, 4)]
    fig = tv.plot_memory_vs_depth(mem)
    assert len(fig.axes[0].lines) == 3  # two methods and the reference line
    assert fig.axes[0].get_xscale() == "linear"  # backprop's linear growth must look straight (G12)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["2", "4"]
    with pytest.raises(ValueError, match="lack"):
        tv.plot_memory_vs_depth([dict(method="bp", depth=2)])
    fig = tv.plot_accuracy([dict(name="hff last", mean=0.88, std=0.01, wall_s=10),
                            dict(name="bp", mean=0.89, std=0.002, wall_s=8)])
    assert len(fig.axes[0].patches) == 2
    prof = {"a": dict(total_ms=3.0, ops=[dict(name="aten::addmm", ms=2.0)]),
            "b": dict(total_ms=1.0, ops=[dict(name="aten::mm", ms=0.5)])}
    fig = tv.plot_profile(prof)
    assert len(fig.axes[0].patches) == 6  # 2 bars x (addmm, mm, other)
    with pytest.raises(ValueError):
        tv.plot_profile({})
    plt.close("all")


# -- the benchmark scripts, on tiny sizes ---------------------------------------------

def _script(name):
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_outputs(out_dir, name):
    meta = json.loads((out_dir / f"{name}.json").read_text())["meta"]
    for key in ("machine", "torch", "device", "threads", "seed", "config"):
        assert key in meta, key
    assert (out_dir / f"{name}.csv").read_text().count("\n") >= 2
    assert (out_dir / f"{name}.png").stat().st_size > 1000


def test_benchmark_scripts_tiny(tmp_path, capsys):
    common = ["--out-dir", str(tmp_path)]
    out = _script("inference_vs_classes").main(
        ["--classes", "2,4", "--batch-sizes", "1,4", "--widths", "2x8", "--in-features", "32",
         "--repeats", "2", "--warmup", "1", "--min-block-s", "0.001", "--no-profile"] + common)
    assert len(out["speedups"]) == 4
    _check_outputs(tmp_path, "inference_vs_classes")
    out = _script("memory_vs_depth").main(["--depths", "1,2", "--width", "16", "--batch-size", "32",
                                           "--in-features", "16"] + common)
    assert {r["method"] for r in out["rows"]} == {"hff", "local-ce", "ff", "bp"}
    _check_outputs(tmp_path, "memory_vs_depth")
    out = _script("training_cost").main(["--dataset", "digits", "--widths", "1x12", "--steps", "2",
                                         "--blocks", "2", "--no-profile", "--compile-backend", "aot_eager",
                                         "--peak-sizes", "16,32"] + common)
    assert {(r["method"], r["path"]) for r in out["rows"]} == {
        (m, p) for m in ("ff", "hff", "local-ce", "bp") for p in ("plain", "compiled")}
    for r in out["rows"]:
        assert r["gflops"] == pytest.approx(r["gflop_per_step"] / (r["step_ms"] / 1e3))
        assert r["peak_fraction"] == pytest.approx(r["gflops"] / out["peaks"][0]["gflops"])
        assert r["matmul_ms"] > 0 and r["threads"] == torch.get_num_threads()
    _check_outputs(tmp_path, "training_cost")
    out = _script("accuracy").main(["--dataset", "digits", "--subset", "200", "--seeds", "0,1",
                                    "--widths", "1x12", "--epochs", "1", "--methods", "hff,bp"] + common)
    assert [r["name"] for r in out["rows"]] == ["hff last", "hff sum", "bp"]
    assert "| hff last |" in (tmp_path / "accuracy_digits.md").read_text()
    _check_outputs(tmp_path, "accuracy_digits")
    assert "wrote" in capsys.readouterr().out


def test_timing_figures_use_the_suites_colour_blind_safe_colours():
    from matplotlib.colors import to_hex

    from hff_edu.viz.style import OKABE_ITO, method_color
    rows = _inference_rows() + [dict(r, variant="ff softmax", median_s=1e-3) for r in _inference_rows()
                                if r["variant"] == "hff last"]
    fig = tv.plot_inference_vs_classes(rows)
    lines = {ln.get_label(): ln for ln in fig.axes[0].lines}
    assert to_hex(lines["ff goodness"].get_color()) == method_color("ff").lower()
    assert to_hex(lines["hff last"].get_color()) == method_color("hff").lower()
    # two variants of one method share its colour and differ in line style
    assert lines["ff softmax"].get_color() == lines["ff goodness"].get_color()
    assert lines["ff softmax"].get_linestyle() != lines["ff goodness"].get_linestyle()
    assert fig.axes[0].get_legend()._loc == 3  # lower left, the corner the lines leave empty
    fig = tv.plot_accuracy([dict(name="hff last", mean=0.88, std=0.01), dict(name="bp", mean=0.89, std=0.002)])
    assert "axis starts at 0.78, not 0" in fig.axes[0].get_xlabel()  # a truncated axis says so
    prof = {"a": dict(total_ms=3.0, ops=[dict(name="aten::addmm", ms=2.0)])}
    fig = tv.plot_profile(prof)
    assert to_hex(fig.axes[0].patches[0].get_facecolor()) in [c.lower() for c in OKABE_ITO]
    plt.close("all")


def test_compile_variants_script_tiny(tmp_path):
    """Every variant trains the same model (same losses as the readable path) and gets a ratio to backprop."""
    out = _script("compile_variants").main(
        ["--quick", "--compile-backend", "aot_eager", "--variants",
         "plain,compiled,compiled-autograd", "--out-dir", str(tmp_path)])
    rows = {(r["method"], r["variant"]): r for r in out["rows"]}
    assert set(rows) == {(m, v) for m in ("hff", "bp") for v in ("plain", "compiled", "compiled-autograd")}
    for (m, v), r in rows.items():
        assert r["loss_drift"] < 1e-5, (m, v)
        assert r["ratio_to_bp"] == pytest.approx(r["step_ms"] / rows[("bp", v)]["step_ms"])
    assert json.loads((tmp_path / "compile_variants_quick.json").read_text())["meta"]["config"]["variants"] == [
        "plain", "compiled", "compiled-autograd"]
    with pytest.raises(SystemExit, match="inductor setting"):
        _script("compile_variants").main(["--quick", "--compile-backend", "aot_eager",
                                          "--variants", "plain,cpp-wrapper", "--out-dir", str(tmp_path)])
