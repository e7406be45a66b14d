"""The contract every registered method keeps, MLP and conv: tested for each kind the registry
holds (``hff_edu.methods.METHODS``), so a new method file is tested without an edit here.

- locality: a unit's loss reaches only the modules that unit trains (backprop: every layer);
- a checkpoint round-trips (same weights, same predictions under every readout);
- the command line trains, saves and evaluates it, printing every readout;
- a pipelined run computes what ``fit`` computes (methods that step unit by unit);
- data parallel = one process: bit for bit with one process summing the same shards
  (``ShardedSteps``, models without BatchNorm), to float rounding with ``fit`` (every kind);
- the compiled path computes the readable path's losses and gradients;
- bad input gets a clear error.
"""
import pytest
import torch

from hff_edu import checkpoint, cli, compile as fast, data, methods, parallel, train

KINDS = list(methods.METHODS)
KW = dict(epochs=2, batch_size=64, lr=3e-3, seed=0, progress=False, device="cpu")


@pytest.fixture(scope="module")
def small():
    return data.load("digits", subset=300, test_subset=120, seed=0)  # 300 = 4 x 64 + 44: a partial last batch


def sizes(kind: str) -> list[int]:
    return [10, 20, 20] if kind.endswith("-conv") else [30, 30, 30]  # multiples of C = 10 (CwComp's groups)


def build(kind: str, ds, **kw):
    return methods.build(kind, ds, sizes(kind), seed=0, **kw)


def pipelinable(kind: str, ds) -> bool:
    return build(kind, ds).pipeline_refusal() is None


def test_the_registry_holds_every_method_and_both_architectures():
    assert {"hff", "ff", "bp", "local-ce", "symba"} <= set(methods.SPECS)
    for spec in methods.SPECS.values():
        assert spec.mlp is not None and spec.conv is not None, spec.name
        assert spec.readouts and spec.label and spec.color.startswith("#"), spec.name
        assert methods.spec_of(spec.label) is spec and methods.spec_of(spec.conv_name) is spec


@pytest.mark.parametrize("kind", KINDS)
def test_locality(kind, small):
    model = build(kind, small).train()
    x, y = small.train.x[:32], small.train.y[:32]
    losses = model.local_losses(x, y, torch.Generator().manual_seed(0))
    assert len(losses) == len(model.loss_names)
    if not methods.spec_of(kind).local:
        model.zero_grad(set_to_none=True)
        losses[0].backward()
        assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in model.parameters())
        return
    for i in range(model.num_layers):
        model.zero_grad(set_to_none=True)
        model.local_losses(x, y, torch.Generator().manual_seed(0))[i].backward()
        own = {id(p) for m in model.unit_modules(i) for p in model.get_submodule(m).parameters()}
        for name, p in model.named_parameters():
            touched = p.grad is not None and float(p.grad.abs().sum()) > 0
            if id(p) in own and p.dim() > 1:
                assert touched, f"{kind}: unit {i}'s loss does not train its own {name}"
            if id(p) not in own:
                assert not touched, f"{kind}: unit {i}'s loss reaches {name}"


@pytest.mark.parametrize("kind", KINDS)
def test_a_checkpoint_round_trips(kind, small, tmp_path):
    model = build(kind, small)
    train.fit(model, small, **dict(KW, epochs=1))
    loaded, _ = checkpoint.load(checkpoint.save(model, tmp_path / "m.pt"))
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    for name, kw in methods.readouts_of(model).items():
        assert torch.equal(loaded.predict(small.test.x, **kw), model.predict(small.test.x, **kw)), name


@pytest.mark.parametrize("kind", KINDS)
def test_the_command_line_trains_saves_and_evaluates(kind, small, tmp_path, capsys):
    size_flag = "--channels" if kind.endswith("-conv") else "--widths"
    path = tmp_path / "m.pt"
    assert cli.main(["train", "--method", kind, "--dataset", "digits", "--subset", "200", "--test-subset", "100",
                     "--epochs", "1", "--quiet", size_flag, ",".join(map(str, sizes(kind))),
                     "--save", str(path)]) == 0
    assert cli.main(["evaluate", str(path)]) == 0
    out = capsys.readouterr().out
    for name in methods.readouts_of(build(kind, small)):
        assert name in out or len(methods.readouts_of(build(kind, small))) == 1, f"{kind}: readout {name} not printed"
    assert out.count("test accuracy") >= 2


def _pipelines(rank, world_size, jobs):
    return [parallel.run_stage(rank, world_size, model, ds if rank == 0 else None, plan, cfg)
            for model, ds, plan, cfg in jobs]


def test_every_method_that_steps_unit_by_unit_pipelines_exactly(small):
    kinds = [k for k in KINDS if pipelinable(k, small)]
    assert {"hff", "local-ce", "hff-conv", "local-ce-conv", "symba-conv"} <= set(kinds)
    jobs, expected = [], []
    fit_kw = {k: v for k, v in KW.items() if k != "progress"}
    for kind in kinds:
        seq, pipe = build(kind, small), build(kind, small)
        expected.append((seq, train.fit(seq, small, **KW)))
        plan, cfg = parallel.prepare_pipeline(pipe, small, 2, timeout=120, **fit_kw)
        jobs.append((pipe, small, plan, cfg))
    outs = parallel.launch(_pipelines, 2, jobs, timeout=180)
    for kind, (seq, h), (pipe, _, plan, cfg), out in zip(kinds, expected, jobs, outs):
        run = parallel.finish_pipeline(pipe, out, plan, cfg)
        for k, v in seq.state_dict().items():
            assert torch.equal(pipe.state_dict()[k], v), f"{kind}: {k}"
        assert [r["train_loss"] for r in run.history.records] == [r["train_loss"] for r in h.records], kind


def test_methods_that_cannot_pipeline_say_why(small):
    for kind in KINDS:
        reason = build(kind, small).pipeline_refusal()
        if reason is not None:
            with pytest.raises(ValueError, match="cannot be pipelined"):
                parallel.pipeline_fit(build(kind, small), small, stages=2)


def _data_parallel(rank, world_size, jobs):
    out = []
    for model, ds, kw in jobs:
        replica = parallel.DataParallel(model, timeout=120)
        train.fit(replica, ds, **kw)
        out.append(replica.unwrap().state_dict())
    return out


def _dp_kwargs(kind: str) -> dict:
    # conv kinds with SGD: their BatchNorm statistics are summed across the ranks in another order, and a
    # block's BatchNorm shift before the next normalisation has a gradient close to 0, mostly rounding
    # noise, which Adam's normalised steps turn into lr-sized moves; SGD keeps the noise noise
    return dict(KW, optimizer="sgd", lr=0.05) if kind.endswith("-conv") else dict(KW)


def test_data_parallel_is_one_process(small):
    jobs, singles, sharded = [], [], []
    for kind in KINDS:
        one, dp = build(kind, small), build(kind, small)
        train.fit(one, small, **_dp_kwargs(kind))
        singles.append(one)
        if not kind.endswith("-conv"):  # no BatchNorm: one process summing the same shards, bit for bit
            s = build(kind, small)
            train.fit(parallel.ShardedSteps(s, shards=2), small, **KW)
            sharded.append(s)
        else:
            sharded.append(None)
        jobs.append((dp, small, _dp_kwargs(kind)))
    states = parallel.launch(_data_parallel, 2, jobs, timeout=240)
    for kind, one, s, state in zip(KINDS, singles, sharded, states):
        if s is not None:
            for k, v in s.state_dict().items():
                assert torch.equal(state[k], v), f"{kind}: {k} differs from ShardedSteps"
        dp = build(kind, small)
        dp.load_state_dict(state)
        apart = parallel.weights_apart(one, dp)
        assert apart < 1e-3, f"{kind}: data parallel is {apart:.1e} of the weights' norm from one process"


@pytest.mark.parametrize("kind", KINDS)
def test_the_compiled_path_computes_the_readable_path(kind, small):
    torch.compiler.reset()
    plain, other = build(kind, small).train(), build(kind, small).train()
    x, y = small.train.x[:48], small.train.y[:48]
    want = plain.backward_local(x, y, generator=torch.Generator().manual_seed(7))
    got = fast.CompiledModel(other, backend="aot_eager").backward_local(x, y, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(torch.stack(got), torch.stack(want), rtol=1e-5, atol=1e-6)
    for (name, p), q in zip(plain.named_parameters(), other.parameters()):
        assert (p.grad is None) == (q.grad is None), name
        if p.grad is not None:
            torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-6, msg=name)
    torch.compiler.reset()


@pytest.mark.parametrize("kind", KINDS)
def test_bad_input_gets_a_clear_error(kind, small):
    model = build(kind, small)
    x, y = small.train.x[:8], small.train.y[:8]
    wrong = x[:, :, :4] if kind.endswith("-conv") else x.flatten(1)[:, :7]
    with pytest.raises(ValueError, match="expects|too small|channels"):
        model.predict(wrong)
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        model.local_losses(x, y + 10)
    with pytest.raises(ValueError, match="NaN or Inf"):
        model.predict(torch.full_like(x, float("nan")))
