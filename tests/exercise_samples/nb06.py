"""Answers to 06's exercises: right ones, wrong-but-plausible ones, and ones that call the package."""
import torch

from hff_edu import blocks, hff

from ._common import given_samples

# -- 06.1 the block that leaks: the bug as given, and fixes -------------------------------------------


def _given(model, x, y):  # the notebook's buggy version: detach() returns a copy, which is thrown away
    losses, a = [], x
    for block, head in zip(model.blocks, model.heads):
        a.detach()
        a = block(a)
        _, S = head(a)
        losses.append(hff.hff_loss(S, y, model.tau, model.margin))
    return losses


def _fixed(model, x, y):
    losses, a = [], x
    for block, head in zip(model.blocks, model.heads):
        a = block(a.detach())
        _, S = head(a)
        losses.append(hff.hff_loss(S, y, model.tau, model.margin))
    return losses


def _fixed_in_place(model, x, y):  # detach_() cuts a graph the head's backward still needs
    losses, a = [], x
    for block, head in zip(model.blocks, model.heads):
        a.detach_()
        a = block(a)
        _, S = head(a)
        losses.append(hff.hff_loss(S, y, model.tau, model.margin))
    return losses


def _no_grad_blocks(model, x, y):
    losses, a = [], x
    for block, head in zip(model.blocks, model.heads):
        with torch.no_grad():
            a = block(a)
        _, S = head(a)
        losses.append(hff.hff_loss(S, y, model.tau, model.margin))
    return losses


def _detach_in_head(model, x, y):
    losses, a = [], x
    for block, head in zip(model.blocks, model.heads):
        a = block(a)
        _, S = head(a.detach())
        losses.append(hff.hff_loss(S, y, model.tau, model.margin))
    return losses


def _detach_after_block(model, x, y):
    losses, a = [], x
    for block, head in zip(model.blocks, model.heads):
        a = block(a).detach()
        _, S = head(a)
        losses.append(hff.hff_loss(S, y, model.tau, model.margin))
    return losses


def _detach_input_only(model, x, y):
    losses, a = [], x.detach()
    for block, head in zip(model.blocks, model.heads):
        a = block(a)
        _, S = head(a)
        losses.append(hff.hff_loss(S, y, model.tau, model.margin))
    return losses


def _detach_last_only(model, x, y):
    losses, a = [], x
    n = len(model.blocks)
    for i, (block, head) in enumerate(zip(model.blocks, model.heads)):
        a = block(a.detach() if i == n - 1 else a)
        _, S = head(a)
        losses.append(hff.hff_loss(S, y, model.tau, model.margin))
    return losses


def _sum_of_losses(model, x, y):  # the fix, but one summed loss: not one per block
    return [sum(_fixed(model, x, y))]


# -- 06.2 the receptive field ------------------------------------------------------------------------


def _rf(n_blocks, convs_per_block=1, kernel=3):
    r, jump = 1, 1
    for _ in range(n_blocks):
        r += convs_per_block * (kernel - 1) * jump + jump
        jump *= 2
    return r


def _rf_no_pool(n_blocks, convs_per_block=1, kernel=3):  # the pool's own window forgotten
    r, jump = 1, 1
    for _ in range(n_blocks):
        r += convs_per_block * (kernel - 1) * jump
        jump *= 2
    return r


def _rf_no_jump(n_blocks, convs_per_block=1, kernel=3):  # every layer adds k - 1, strides ignored
    return 1 + n_blocks * (convs_per_block * (kernel - 1) + 1)


def _rf_pool_doubles(n_blocks, convs_per_block=1, kernel=3):  # "a pool doubles the field"
    r = 1
    for _ in range(n_blocks):
        r = 2 * (r + convs_per_block * (kernel - 1))
    return r


def _rf_one_conv(n_blocks, convs_per_block=1, kernel=3):  # convs_per_block ignored
    return _rf(n_blocks, 1, kernel)


def _rf_empirical(n_blocks, convs_per_block=1, kernel=3):  # runs the package's blocks instead of reasoning
    net = torch.nn.Sequential(*[blocks.ConvBlock(1, 1, convs_per_block) for _ in range(n_blocks)])
    x = torch.ones(1, 1, 64, 64, requires_grad=True)
    net(x)[0, 0, 0, 0].backward()
    return int((x.grad[0, 0].abs().sum(0) > 0).sum())


# -- 06.3 pool first -----------------------------------------------------------------------------------

def _pool_first(conv, a):
    return blocks.gap(a) @ conv.weight[:, :, 0, 0].T


SAMPLES = {
    "06.1": dict(
        right={"a = block(a.detach())": _fixed},
        wrong={"the code as given": _given, "a.detach_() in place": _fixed_in_place, "no_grad around the block": _no_grad_blocks,
               "detached before the head": _detach_in_head, "detached after the block": _detach_after_block,
               "only the image detached": _detach_input_only, "only the last block's input detached": _detach_last_only,
               "one summed loss": _sum_of_losses},
        package={"model.local_losses": lambda model, x, y: model.local_losses(x, y)},
    ),
    "06.2": dict(
        right={"recursion with the jump": _rf},
        wrong={"pool window forgotten": _rf_no_pool, "strides ignored": _rf_no_jump,
               "a pool doubles the field": _rf_pool_doubles, "one convolution per block always": _rf_one_conv},
        package={"runs the package's ConvBlocks": _rf_empirical},
    ),
    "06.3": dict(
        right={"gap, then W^T": _pool_first,
               "mean over H and W, then W^T": lambda conv, a: a.mean(dim=(2, 3)) @ conv.weight[:, :, 0, 0].T,
               "einsum on the pooled map": lambda conv, a: torch.einsum("nc,dc->nd", a.mean(dim=(2, 3)),
                                                                         conv.weight.flatten(1)),
               "F.linear": lambda conv, a: torch.nn.functional.linear(a.mean(dim=(2, 3)), conv.weight.flatten(1))},
        wrong={"no transpose": lambda conv, a: blocks.gap(a) @ conv.weight[:, :, 0, 0],
               "weight reshaped, not transposed": lambda conv, a: blocks.gap(a) @ conv.weight.reshape(
                   conv.weight.shape[1], conv.weight.shape[0]),
               "sum pooling": lambda conv, a: a.sum(dim=(2, 3)) @ conv.weight[:, :, 0, 0].T,
               "pooled over the channels": lambda conv, a: a.mean(dim=1).flatten(1)[:, :conv.weight.shape[0]],
               "max pooling instead of the average": lambda conv, a: a.amax(dim=(2, 3)) @ conv.weight[:, :, 0, 0].T,
               "the conv's weight summed over output channels": lambda conv, a:
                   (a.mean(dim=(2, 3)) @ conv.weight[:, :, 0, 0].T).sum(1, keepdim=True).expand(-1, conv.weight.shape[0])},
        package={"the package's order (conv, then GAP)": lambda conv, a: blocks.gap(conv(a))},
    ),
    "06.4": given_samples(
        right={"b": "b", "B, capital and spaces": " B "},
        wrong={"a": "a", "c": "c", "d": "d"},
    ),
}
