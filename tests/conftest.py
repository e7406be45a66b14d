import sys

import matplotlib
import pytest
import torch

matplotlib.use("Agg")  # unit tests draw off screen (notebook runs keep inline figures)


@pytest.fixture(scope="session")
def digits():
    from hff_edu import data
    return data.load("digits")


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    # The test models are tiny: one intra-op thread is as fast, and it does not
    # stall on thread barriers when the machine is busy with other work.
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _close_figures():
    # Figure tests leave their figures open; close them so memory does not pile up.
    yield
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
