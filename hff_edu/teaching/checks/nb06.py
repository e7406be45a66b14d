"""Exercises of 06_convolutional_hff: a conv HFF whose blocks leak gradient, the receptive field of a
stack of blocks, GAP and a 1x1 convolution in either order, and why conv FF's C passes cost more than C
HFF passes."""
from __future__ import annotations

import torch

from ..exercises import digest, exercise

# ----------------------------------------------------------------------------
# 06.1 a block that leaks


def _leak_cases():
    """Small conv HFF networks the check trains on one batch: 2 and 3 blocks, one and two convolutions
    per block, 1 and 2 input channels, C = 3 and 4 (built from the package's HFFConvNet)."""
    from ...methods.hff import HFFConvNet
    out = []
    for seed, (in_ch, channels, classes, convs) in enumerate([(1, [4, 6], 3, 1), (2, [3, 5, 4], 4, 2)]):
        g = torch.Generator().manual_seed(600 + seed)
        model = HFFConvNet(in_ch, channels, classes, convs_per_block=convs, seed=seed).train()
        x = torch.randn(8, in_ch, 12, 12, generator=g)
        y = torch.arange(8) % classes
        out.append((f"a net of {len(channels)} blocks ({convs} convolution(s) each)", model, x, y))
    return out


def _grad_norm(t, loss, params, what: str) -> float:
    try:
        grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    except RuntimeError as exc:  # e.g. a tensor the graph saved was detached in place (detach_)
        t.fail(f"back-propagating {what} raised RuntimeError: {str(exc).split('. ')[0].rstrip('.')}.")
    return float(sum(g.abs().sum() for g in grads if g is not None))


@exercise("06.1", "the block that leaks", kind="debug", level=2, minutes=12,
          forbid=["hff_edu.methods.hff.HFFConvNet.step", "hff_edu.core.protocol.LocalModel.iter_losses",
                  "hff_edu.core.protocol.LocalModel.local_losses", "hff_edu.core.blocks.ConvModel._blocks_forward"])
def _leak(t, block_losses):
    for what, model, x, y in _leak_cases():
        with torch.no_grad():
            reference = [float(v) for v in model.local_losses(x, y)]
        losses = t.call(block_losses, model, x.clone(), y.clone())
        try:
            losses = list(losses)
        except TypeError:
            t.fail(f"for {what} the answer should be a list of losses, one per block; it is {type(losses).__name__}.")
        t.require(len(losses) == len(model.blocks),
                  f"for {what} the answer has {len(losses)} losses: give one per block, block 1 first.")
        for l, loss in enumerate(losses):
            t.require(torch.is_tensor(loss) and loss.dim() == 0 and loss.requires_grad,
                      f"for {what} loss {l + 1} should be a 0-dimensional tensor that can be back-propagated.")
        t.close([float(v.detach()) for v in losses], reference, f"the values of the losses of {what}", rtol=1e-4, atol=1e-6)
        for l, loss in enumerate(losses):
            own = _grad_norm(t, loss, list(model.blocks[l].parameters()), f"L_{l + 1} of {what}")
            t.require(own > 0, f"for {what} L_{l + 1} gives block {l + 1} no gradient: the block no longer learns "
                               "from its own loss. Cut the graph between blocks, not inside one.")
            for j in range(l):
                leak = _grad_norm(t, loss, list(model.blocks[j].parameters()), f"L_{l + 1} of {what}")
                t.require(leak == 0, f"for {what} L_{l + 1} still sends a gradient into block {j + 1}: the blocks "
                                     "are not local yet.")


# ----------------------------------------------------------------------------
# 06.2 the receptive field


def _receptive_field(n_blocks: int, convs_per_block: int, kernel: int) -> int:
    """r grows by (k - 1) x jump per convolution and by (2 - 1) x jump per 2x2 pool, which doubles the jump."""
    r, jump = 1, 1
    for _ in range(n_blocks):
        for _ in range(convs_per_block):
            r += (kernel - 1) * jump
        r += jump
        jump *= 2
    return r


#: (blocks, convolutions per block, kernel)
_RF_CASES = [(1, 1, 3), (3, 1, 3), (1, 2, 3), (2, 2, 3), (3, 2, 3), (4, 1, 3), (2, 1, 5), (3, 2, 5), (5, 1, 3),
             (2, 1, 1)]


@exercise("06.2", "the receptive field", kind="compute", level=2, minutes=10,
          forbid=["hff_edu.core.blocks.ConvBlock", "hff_edu.core.blocks.ConvModel.feature_maps"])
def _rf(t, receptive_field):
    for n, convs, k in _RF_CASES:
        what = f"{n} block(s) of {convs} {k}x{k} convolution(s) and a 2x2 max-pool"
        got = t.number(t.call(receptive_field, n, convs_per_block=convs, kernel=k), what)
        t.require(float(got).is_integer(), f"for {what} the answer should be a whole number of pixels.")
        t.equal(int(got), _receptive_field(n, convs, k), f"the receptive field of {what}")


# ----------------------------------------------------------------------------
# 06.3 GAP and a 1x1 convolution commute


def _head_cases():
    g = torch.Generator().manual_seed(603)
    out = []
    for c, d, h, w in [(6, 4, 5, 5), (5, 5, 7, 3), (3, 8, 4, 6)]:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(603 + c)
            conv = torch.nn.Conv2d(c, d, 1, bias=False)
        a = torch.relu(torch.randn(4, c, h, w, generator=g)) + 0.1  # a block's output: non-negative
        out.append((f"{c} channels to d = {d} on {h}x{w} maps", conv, a))
    return out


@exercise("06.3", "pool first", kind="compute", level=2, minutes=10,
          forbid=["torch.nn.functional.conv2d"])
def _pool_first(t, head_pooled_first):
    for what, conv, a in _head_cases():
        with torch.no_grad():
            expected = conv(a).mean(dim=(2, 3))
            got = t.call(head_pooled_first, conv, a.clone())
        t.require(torch.is_tensor(got), f"for {what} the answer should be a tensor (N, d).")
        t.close(got, expected, what, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------
# 06.4 why conv FF's C passes cost more than C of HFF's


@exercise("06.4", "more than C", kind="explain", level=2, minutes=8)
def _cost(t, answer):
    t.choice(answer, digest("b"), {
        "a": "building label planes and normalising inputs are element-wise operations; the FLOPs counted above "
             "are those of the convolutions alone, and they already give the ratio per pass.",
        "c": "a goodness is a sum of squares per channel: a few thousand operations per image, nothing next to a "
             "convolution's millions, and the count above holds convolutions only.",
        "d": "that happens in training. At prediction BatchNorm uses its running averages and every pass sees "
             "only the test batch.",
    })
