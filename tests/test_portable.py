"""Seeded numbers that do not depend on the CPU: every construction that used to come out of a
decomposition with a free basis or free signs (SVD of a matrix with equal singular values, QR,
PCA) is now a closed form or has its signs fixed. These tests swap in a "different LAPACK"
(the same factorisation with other valid signs or bases) and check that nothing changes.

``make repro`` runs this file and ``tests/test_reference.py`` under other MKL/ATen code paths
and thread counts (``benchmarks/portability.py``).
"""
import numpy as np
import pytest
import torch

from hff_edu import geometry
from hff_edu.viz import embedding_views as ev


def test_helmert_basis_is_an_orthonormal_basis_of_the_centred_hyperplane():
    for n in (2, 3, 10, 37):
        h = geometry.helmert_basis(n)
        assert h.shape == (n - 1, n)
        torch.testing.assert_close(h @ h.T, torch.eye(n - 1, dtype=torch.float64), atol=1e-12, rtol=0)
        torch.testing.assert_close(h.sum(dim=1), torch.zeros(n - 1, dtype=torch.float64), atol=1e-12, rtol=0)


def _other_lapack_qr(real_qr):
    """QR as another LAPACK build may return it: some columns of Q (and rows of R) negated."""
    def qr(a, *args, **kwargs):
        q, r = real_qr(a, *args, **kwargs)
        flip = torch.ones(q.shape[-1], dtype=q.dtype)
        flip[::2] = -1.0
        return q * flip, r * flip[:, None]
    return qr


def test_etf_does_not_depend_on_the_signs_lapack_picks(monkeypatch):
    before = geometry.simplex_etf(10, 24, seed=3)
    monkeypatch.setattr(torch.linalg, "qr", _other_lapack_qr(torch.linalg.qr))

    def no_svd(*_, **__):
        raise AssertionError("simplex_etf must not take an SVD: its basis would depend on the CPU")
    monkeypatch.setattr(torch.linalg, "svd", no_svd)
    after = geometry.simplex_etf(10, 24, seed=3)
    torch.testing.assert_close(after, before, atol=1e-6, rtol=0)
    cos = geometry.cosine_matrix(after)
    off = cos[~torch.eye(10, dtype=torch.bool)]
    torch.testing.assert_close(off, torch.full_like(off, -1 / 9), atol=1e-6, rtol=0)


def test_random_rotation_is_orthogonal_and_seeded():
    q = geometry.random_rotation(7, seed=2)
    torch.testing.assert_close(q @ q.T, torch.eye(7, dtype=torch.float64), atol=1e-12, rtol=0)
    assert torch.equal(q, geometry.random_rotation(7, seed=2))
    assert not torch.allclose(q, geometry.random_rotation(7, seed=3))


def test_pca_view_does_not_depend_on_the_signs_of_the_svd(monkeypatch):
    z = np.random.default_rng(0).normal(size=(50, 6)) + np.linspace(0, 3, 6)
    before = ev.pca_sphere(z)
    real_svd = np.linalg.svd

    def other_signs(a, *args, **kwargs):
        u, s, vt = real_svd(a, *args, **kwargs)
        flip = np.where(np.arange(len(s)) % 2 == 0, -1.0, 1.0)
        return u * flip, s, vt * flip[:, None]
    monkeypatch.setattr(np.linalg, "svd", other_signs)
    np.testing.assert_allclose(ev.pca_sphere(z), before, atol=1e-10)


@pytest.mark.parametrize("init", ["etf", "random", "separated"])
def test_prototype_inits_are_reproducible_in_a_fresh_generator_state(init):
    torch.manual_seed(123)  # the global generator must not matter: every init has its own seed
    a = geometry.init_prototypes(5, 2, 12, init, seed=4)
    torch.manual_seed(999)
    b = geometry.init_prototypes(5, 2, 12, init, seed=4)
    assert torch.equal(a, b)
