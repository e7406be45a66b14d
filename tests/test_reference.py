"""Behaviour pinned by a stored reference: every model kind, trained with a fixed seed,
gives the same losses, weights and predictions as when the reference was written.

The same numbers on every CPU: ``make repro`` runs this file under other code paths of
MKL and ATen (``MKL_ENABLE_INSTRUCTIONS=AVX2``, ``=SSE4_2``, ``ATEN_CPU_CAPABILITY=default``)
and one and two threads, standing in for the machines we do not have. Regenerate the
reference only for a deliberate change of behaviour, and say so in the commit:

    .venv/bin/python tests/test_reference.py --write

A new method adds its kinds without touching the others' numbers: ``tests/test_reference.py --add``.
"""
import sys
from pathlib import Path

import pytest
import torch

from hff_edu import data, methods, train

REFERENCE = Path(__file__).resolve().parent / "data" / "reference.pt"

#: kind -> (hidden widths or block channels, constructor arguments)
KINDS = {
    "hff": ([32, 24], dict(seed=1)),
    # the settings of the reference, written before the tuned defaults (the defaults changed deliberately)
    "ff": ([32, 24], dict(seed=1, theta=5.0, label_scale=3.0, negatives="uniform", sum_skip_first=True)),
    "bp": ([32, 24], dict(seed=1)),
    "local-ce": ([32, 24], dict(seed=1)),
    "hff-conv": ([4, 8], dict(seed=1)),
    "ff-conv": ([4, 8], dict(seed=1)),
    "bp-conv": ([4, 8], dict(seed=1)),
    "local-ce-conv": ([4, 8], dict(seed=1)),
    # added with the methods (issue 23); the entries above were not regenerated
    "symba": ([32, 24], dict(seed=1)),
    "cwcomp": ([32, 24], dict(seed=1)),
    "symba-conv": ([4, 8], dict(seed=1)),
    "cwcomp-conv": ([10, 20], dict(seed=1)),  # CwComp needs a group of channels per class
}


def compute(kind: str) -> dict:
    """Train ``kind`` for two short epochs on a digits subset; what it learned, in numbers.

    Runs at torch's thread count (``OMP_NUM_THREADS``): ``make repro`` runs this file under
    one and two threads and under other CPU code paths, and every one must match the reference.
    """
    ds = data.load("digits", subset=240, test_subset=120, seed=3)
    sizes, kwargs = KINDS[kind]
    model = methods.build(kind, ds, sizes, **kwargs)
    history = train.fit(model, ds, epochs=2, batch_size=64, lr=3e-3, seed=5, progress=False,
                        device="cpu")
    pred, layers = model.predict_and_layers(ds.test.x)
    return dict(losses=torch.tensor([r["train_loss"] for r in history.records]),
                test_acc=torch.tensor(history.column("test_acc")),
                state={k: v.detach().clone() for k, v in model.state_dict().items()},
                pred=pred, layers=torch.stack(layers))


@pytest.fixture(scope="module")
def reference():
    if not REFERENCE.is_file():
        pytest.fail(f"{REFERENCE} is missing: it is part of the repository (see this file's docstring).")
    return torch.load(REFERENCE, weights_only=True)


@pytest.mark.parametrize("kind", list(KINDS))
def test_same_numbers_as_the_reference(kind, reference):
    ref, got = reference[kind], compute(kind)
    torch.testing.assert_close(got["losses"], ref["losses"], rtol=1e-4, atol=1e-5)
    assert got["state"].keys() == ref["state"].keys(), "state-dict keys changed: old checkpoints would not load"
    for name, value in ref["state"].items():
        torch.testing.assert_close(got["state"][name], value, rtol=1e-4, atol=1e-5, msg=f"{kind}: {name}")
    # Predictions are argmaxes: a rounding difference may flip a near tie, so allow one sample.
    assert int((got["pred"] != ref["pred"]).sum()) <= 1, f"{kind}: predictions changed"
    assert int((got["layers"] != ref["layers"]).sum()) <= 1, f"{kind}: per-layer predictions changed"


if __name__ == "__main__":
    # --write regenerates every entry (a deliberate change of the numbers: say so in the commit);
    # --add computes only the kinds the file does not hold yet (a new method), keeping the others
    if sys.argv[1:] not in (["--write"], ["--add"]):
        raise SystemExit(__doc__)
    REFERENCE.parent.mkdir(exist_ok=True)
    stored = torch.load(REFERENCE, weights_only=True) if sys.argv[1] == "--add" and REFERENCE.is_file() else {}
    torch.save({kind: stored[kind] if kind in stored else compute(kind) for kind in KINDS}, REFERENCE)
    print(f"wrote {REFERENCE}")
