"""The fast path (hff_edu.training.compile): the same losses and gradients as the readable path,
for every model kind; the batch still checked; fit(compile=...) and the CLI's --compile.

Most tests compile with the ``aot_eager`` backend (dynamo's graph capture and AOT
autograd, no C++ to build: seconds); one trains through inductor, the default."""
import shutil

import pytest
import torch

from hff_edu import cli, compile as fast, data, methods, protocol, train
from test_reference import KINDS  # every model kind, small, as the stored reference builds them


@pytest.fixture(scope="module")
def small():
    return data.load("digits", subset=240, test_subset=60, seed=3)


@pytest.fixture(autouse=True)
def _fresh_compile_cache():
    # Compiled code is cached per function (up to torch's recompile limit): start every test afresh.
    torch.compiler.reset()
    yield
    torch.compiler.reset()


def _pair(kind, ds):
    sizes, kwargs = KINDS[kind]
    return methods.build(kind, ds, sizes, **kwargs).train(), methods.build(kind, ds, sizes, **kwargs).train()


@pytest.mark.parametrize("kind", list(KINDS))
def test_same_losses_and_gradients_as_the_readable_path(kind, small):
    plain, other = _pair(kind, small)
    compiled = fast.CompiledModel(other, backend="aot_eager")
    x, y = small.train.x[:48], small.train.y[:48]
    want = plain.backward_local(x, y, generator=torch.Generator().manual_seed(7))
    got = compiled.backward_local(x, y, generator=torch.Generator().manual_seed(7))  # FF: the same negatives
    torch.testing.assert_close(torch.stack(got), torch.stack(want), rtol=1e-5, atol=1e-6)
    assert not any(loss.requires_grad for loss in got)
    for (name, p), q in zip(plain.named_parameters(), other.parameters()):
        assert (p.grad is None) == (q.grad is None), name
        if p.grad is not None:
            torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-6, msg=name)
    if kind.endswith("-conv"):  # BatchNorm's running statistics advance as on the readable path
        for (name, b), c in zip(plain.named_buffers(), other.buffers()):
            torch.testing.assert_close(c, b, rtol=1e-5, atol=1e-6, msg=name)


def test_only_the_active_losses_train(small):
    # Greedy steps: the other layers get no gradient at all (not zeros), so Adam leaves them alone.
    plain, other = _pair("hff", small)
    x, y = small.train.x[:32], small.train.y[:32]
    plain.backward_local(x, y, active=[1])
    fast.CompiledModel(other, backend="aot_eager").backward_local(x, y, active=[1])
    for p, q in zip(plain.layers.parameters(), other.layers.parameters()):
        assert (p.grad is None) == (q.grad is None)
        if p.grad is not None:
            torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-6)
    assert other.layers[0].linear.weight.grad is None and other.layers[1].linear.weight.grad is not None


def test_the_batch_is_still_checked(small):
    compiled = fast.CompiledModel(methods.build("hff", small, [16], seed=0), backend="aot_eager")
    x, y = small.train.x[:8].reshape(8, -1).clone(), small.train.y[:8]
    x[3, 5] = float("nan")
    with pytest.raises(ValueError, match="NaN or Inf"):
        compiled.backward_local(x, y)
    with pytest.raises(ValueError, match="Labels must lie"):
        compiled.backward_local(small.train.x[:8], y + 100)
    with pytest.raises(ValueError, match="features per sample"):
        compiled.backward_local(small.train.x[:8].reshape(8, -1)[:, :10], y)


def test_tracing_is_false_outside_compiled_code():
    assert protocol.tracing() is False


def test_stepper_and_wrong_arguments(small):
    model = methods.build("bp", small, [8], seed=0)
    assert fast.stepper(model, False) is model
    assert isinstance(fast.stepper(model, True), fast.CompiledModel)
    wrapped = fast.stepper(model, dict(backend="aot_eager"))
    assert wrapped.options["backend"] == "aot_eager" and fast.model_of(wrapped) is model
    assert fast.model_of(model) is model
    with pytest.raises(TypeError, match="compile="):
        fast.stepper(model, "yes")
    with pytest.raises(TypeError, match="compiled already"):
        fast.CompiledModel(wrapped)
    # a backend's settings reach torch.compile; a mode and options together are refused by name
    assert fast.stepper(model, {"options": {"cpp_wrapper": True}}).options["options"] == {"cpp_wrapper": True}
    with pytest.raises(ValueError, match="takes one of them"):
        fast.CompiledModel(model, mode="max-autotune", options={"cpp_wrapper": True})
    with pytest.raises(TypeError, match="LocalModel"):
        fast.CompiledModel(torch.nn.Linear(2, 2))


def test_fit_on_the_fast_path_matches_the_readable_path(small):
    out = {}
    for compile in (False, dict(backend="aot_eager")):
        model = methods.build("local-ce", small, [24], seed=2)
        # 240 samples in batches of 64: the last, smaller batch is compiled too
        history = train.fit(model, small, epochs=2, batch_size=64, lr=3e-3, seed=5, progress=False,
                            device="cpu", compile=compile)
        out[bool(compile)] = (torch.tensor(history.column("train_loss")), model.state_dict(), history)
    torch.testing.assert_close(out[True][0], out[False][0], rtol=1e-4, atol=1e-5)
    for k, v in out[False][1].items():
        torch.testing.assert_close(out[True][1][k], v, rtol=1e-3, atol=1e-5, msg=k)
    assert out[True][2].config["compile"] == dict(backend="aot_eager")
    assert out[False][2].config["compile"] is False


@pytest.mark.skipif(not (shutil.which("c++") or shutil.which("g++")), reason="inductor needs a C++ compiler")
def test_fit_compiled_by_inductor(small):
    """The default fast path, C++ kernels built by inductor (a minute the first time, then cached)."""
    out = {}
    for compile in (False, True):
        model = methods.build("hff", small, [24], seed=2)
        history = train.fit(model, small, epochs=1, batch_size=60, lr=3e-3, seed=5, progress=False,
                            device="cpu", compile=compile)
        out[compile] = (torch.tensor(history.column("train_loss")), model.state_dict())
    torch.testing.assert_close(out[True][0], out[False][0], rtol=1e-4, atol=1e-5)
    for k, v in out[False][1].items():
        torch.testing.assert_close(out[True][1][k], v, rtol=1e-3, atol=1e-5, msg=k)


def test_cli_compile_reaches_fit(small, monkeypatch):
    from hff_edu.training.parallel import command_line
    seen = {}
    real_fit = command_line.fit  # the CLI trains through parallel.cli_trainer: train.fit in one process

    def spy(model, ds, **kwargs):
        seen.update(kwargs)
        return real_fit(model, ds, **dict(kwargs, compile=dict(backend="aot_eager")))

    monkeypatch.setattr(command_line, "fit", spy)
    assert cli.main(["train", "--method", "bp", "--dataset", "digits", "--subset", "120", "--epochs", "1",
                     "--widths", "1x8", "--quiet", "--compile"]) == 0
    assert seen["compile"] is True


def test_cli_compile_is_refused_with_stages(capsys):
    assert cli.main(["train", "--method", "hff", "--dataset", "digits", "--subset", "120", "--epochs", "1",
                     "--widths", "2x8", "--quiet", "--compile", "--stages", "2"]) == 2
    assert "--compile is the fast path of one process" in capsys.readouterr().err


def test_every_compiled_model_keeps_its_own_cache(small):
    # torch keeps 8 compiled variants per function; all models share the protocol's local_losses,
    # so each CompiledModel compiles its own copy: the ninth model and beyond are compiled too
    from torch._dynamo.utils import counters
    counters.clear()
    x, y = small.train.x[:16], small.train.y[:16]
    for width in range(4, 14):  # ten models, ten shapes
        fast.CompiledModel(methods.build("local-ce", small, [width], seed=0), backend="eager").backward_local(x, y)
    assert counters["stats"]["unique_graphs"] == 10
