"""Answers to 02b's exercises: right ones, wrong-but-plausible ones (the mistakes students make), and ones that
call the package."""
import torch
import torch.nn.functional as F
from torch import nn

from hff_edu import ff, geometry, hff

from ._common import given_samples

# ----------------------------------------------------------------------------
# 02b.1: the loss


def loss_right(S, y, tau, margin=0.0):
    target = S.gather(1, y[:, None])[:, 0]
    others = S.masked_fill(F.one_hot(y, S.shape[1]).bool(), float("-inf"))
    return F.softplus((tau * torch.logsumexp(others / tau, dim=1) - target + margin) / tau).mean()


def loss_right_log1p(S, y, tau, margin=0.0):  # log(1 + sum_{c != y} exp(...)) with the max taken out by hand
    gaps = (S - S.gather(1, y[:, None]) + margin) / tau
    gaps = gaps.masked_fill(F.one_hot(y, S.shape[1]).bool(), float("-inf"))
    big = gaps.amax(1, keepdim=True).clamp_min(0)
    return (big[:, 0] + torch.log(torch.exp(-big[:, 0]) + torch.exp(gaps - big).sum(1))).mean()


def loss_naive_exp(S, y, tau, margin=0.0):  # overflows at tau = 0.001
    target = S.gather(1, y[:, None])[:, 0]
    mask = 1 - F.one_hot(y, S.shape[1]).to(S)
    return torch.log1p((torch.exp((S - target[:, None] + margin) / tau) * mask).sum(1)).mean()


def loss_true_class_kept(S, y, tau, margin=0.0):  # the true class stays in the soft maximum
    target = S.gather(1, y[:, None])[:, 0]
    return F.softplus((tau * torch.logsumexp(S / tau, dim=1) - target + margin) / tau).mean()


def loss_no_tau_in_lse(S, y, tau, margin=0.0):  # logsumexp at temperature 1
    target = S.gather(1, y[:, None])[:, 0]
    others = S.masked_fill(F.one_hot(y, S.shape[1]).bool(), float("-inf"))
    return F.softplus((torch.logsumexp(others, dim=1) - target + margin) / tau).mean()


def loss_hard_max(S, y, tau, margin=0.0):  # max instead of the soft maximum
    target = S.gather(1, y[:, None])[:, 0]
    others = S.masked_fill(F.one_hot(y, S.shape[1]).bool(), float("-inf"))
    return F.softplus((others.amax(1) - target + margin) / tau).mean()


def loss_margin_sign(S, y, tau, margin=0.0):
    return loss_right(S, y, tau, -margin)


def loss_sum(S, y, tau, margin=0.0):
    return loss_right(S, y, tau, margin) * len(y)


def loss_margin_not_scaled(S, y, tau, margin=0.0):  # m added after dividing by tau
    target = S.gather(1, y[:, None])[:, 0]
    others = S.masked_fill(F.one_hot(y, S.shape[1]).bool(), float("-inf"))
    return F.softplus((tau * torch.logsumexp(others / tau, dim=1) - target) / tau + margin).mean()


def loss_detached(S, y, tau, margin=0.0):
    return torch.tensor(float(loss_right(S.detach(), y, tau, margin)))


def loss_cross_entropy(S, y, tau, margin=0.0):  # the other form: not what the exercise asks for
    return F.cross_entropy((S - margin * F.one_hot(y, S.shape[1])) / tau, y)


def loss_log_softmax(S, y, tau, margin=0.0):
    logits = (S - margin * F.one_hot(y, S.shape[1])) / tau
    return -logits.log_softmax(1).gather(1, y[:, None]).mean()


# ----------------------------------------------------------------------------
# 02b.2: the layer


class LayerRight(nn.Module):
    def __init__(self, in_features, out_features, num_classes, seed=0):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.prototypes = nn.Parameter(geometry.init_prototypes(num_classes, 1, out_features, "etf", seed)[:, 0])

    def forward(self, u):
        h = F.relu(self.linear(u))
        z = h / (h.norm(dim=1, keepdim=True) + 1e-8)
        p_hat = self.prototypes / (self.prototypes.norm(dim=1, keepdim=True) + 1e-8)
        return z, z @ p_hat.T


class LayerFNormalize(LayerRight):  # F.normalize: the same up to rounding
    def forward(self, u):
        z = F.normalize(F.relu(self.linear(u)), dim=1)
        return z, z @ F.normalize(self.prototypes, dim=1).T


class LayerRawPrototypes(LayerRight):  # the walkthrough's bug: never normalises the prototypes
    def forward(self, u):
        h = F.relu(self.linear(u))
        z = h / (h.norm(dim=1, keepdim=True) + 1e-8)
        return z, z @ self.prototypes.T


class LayerNormalisedOnceAtInit(LayerRawPrototypes):  # unit at the start, raw on use: drifts during training
    def __init__(self, in_features, out_features, num_classes, seed=0):
        super().__init__(in_features, out_features, num_classes, seed)
        with torch.no_grad():
            self.prototypes.div_(self.prototypes.norm(dim=1, keepdim=True))


class LayerNoEps(LayerRight):  # NaN for a sample whose ReLU output is all 0
    def forward(self, u):
        h = F.relu(self.linear(u))
        z = h / h.norm(dim=1, keepdim=True)
        p_hat = self.prototypes / self.prototypes.norm(dim=1, keepdim=True)
        return z, z @ p_hat.T


class LayerNoReLU(LayerRight):
    def forward(self, u):
        h = self.linear(u)
        z = h / (h.norm(dim=1, keepdim=True) + 1e-8)
        p_hat = self.prototypes / (self.prototypes.norm(dim=1, keepdim=True) + 1e-8)
        return z, z @ p_hat.T


class LayerRandomPrototypes(LayerRight):  # random unit prototypes instead of the seed's ETF
    def __init__(self, in_features, out_features, num_classes, seed=0):
        super().__init__(in_features, out_features, num_classes, seed)
        with torch.no_grad():
            self.prototypes.copy_(geometry.random_prototypes(num_classes, out_features, seed=seed))


class LayerNormOverBatch(LayerRight):  # normalises each unit over the batch, not each sample
    def forward(self, u):
        h = F.relu(self.linear(u))
        z = h / (h.norm(dim=0, keepdim=True) + 1e-8)
        p_hat = self.prototypes / (self.prototypes.norm(dim=1, keepdim=True) + 1e-8)
        return z, z @ p_hat.T


class LayerPackage(nn.Module):  # wraps the package's layer
    def __init__(self, in_features, out_features, num_classes, seed=0):
        super().__init__()
        self.inner = hff.HFFLayer(in_features, out_features, num_classes, seed=seed)
        self.linear = self.inner.linear
        self.prototypes = nn.Parameter(self.inner.prototypes.raw.detach()[:, 0].clone())

    def forward(self, u):
        return self.inner(u)


class LayerSphere(LayerRight):  # calls hff.sphere for z
    def forward(self, u):
        z = hff.sphere(F.relu(self.linear(u)))
        return z, z @ (self.prototypes / (self.prototypes.norm(dim=1, keepdim=True) + 1e-8)).T


# ----------------------------------------------------------------------------
# 02b.3: the network


class NetRight(nn.Module):
    layer = LayerRight

    def __init__(self, in_features, widths, num_classes, tau, seed=0, loss_fn=None):
        super().__init__()
        self.tau = tau
        self.loss_fn = loss_right if loss_fn is None else loss_fn
        sizes = [in_features] + list(widths)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.layers = nn.ModuleList(self.layer(a, b, num_classes, seed + i)
                                        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])))

    def local_losses(self, x, y, generator=None):
        a, losses = x, []
        for layer in self.layers:
            a, S = layer(a.detach())
            losses.append(self.loss_fn(S, y, self.tau))
        return losses

    @torch.no_grad()
    def predict(self, x):
        a = x
        for layer in self.layers:
            a, S = layer(a)
        return S.argmax(1)


class NetNoDetach(NetRight):
    def local_losses(self, x, y, generator=None):
        a, losses = x, []
        for layer in self.layers:
            a, S = layer(a)
            losses.append(self.loss_fn(S, y, self.tau))
        return losses


class NetNoForkRng(NetRight):  # reseeds the global generator for everyone after it
    def __init__(self, in_features, widths, num_classes, tau, seed=0, loss_fn=None):
        nn.Module.__init__(self)
        self.tau = tau
        self.loss_fn = loss_right if loss_fn is None else loss_fn
        sizes = [in_features] + list(widths)
        torch.manual_seed(seed)
        self.layers = nn.ModuleList(LayerRight(a, b, num_classes, seed + i)
                                    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])))


class NetSamePrototypeSeed(NetRight):  # every layer's prototypes from `seed`
    def __init__(self, in_features, widths, num_classes, tau, seed=0, loss_fn=None):
        nn.Module.__init__(self)
        self.tau = tau
        self.loss_fn = loss_right if loss_fn is None else loss_fn
        sizes = [in_features] + list(widths)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.layers = nn.ModuleList(LayerRight(a, b, num_classes, seed) for a, b in zip(sizes[:-1], sizes[1:]))


class NetNoSeed(NetRight):  # forgets torch.manual_seed
    def __init__(self, in_features, widths, num_classes, tau, seed=0, loss_fn=None):
        nn.Module.__init__(self)
        self.tau = tau
        self.loss_fn = loss_right if loss_fn is None else loss_fn
        sizes = [in_features] + list(widths)
        self.layers = nn.ModuleList(LayerRight(a, b, num_classes, seed + i)
                                    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])))


class NetEveryLayerReadsX(NetRight):  # every layer reads the input (the sizes happen to fit nothing)
    def local_losses(self, x, y, generator=None):
        a, losses = x, []
        for i, layer in enumerate(self.layers):
            a, S = layer(a.detach())
            losses.append(self.loss_fn(S, y, self.tau) * (1.0 if i == 0 else 0.5))
        return losses


class NetPredictFirstLayer(NetRight):
    @torch.no_grad()
    def predict(self, x):
        return self.layers[0](x)[1].argmax(1)


class NetRawPrototypes(NetRight):  # built from the layer that never normalises its prototypes
    layer = LayerRawPrototypes


class NetPackage(NetRight):  # the package's network behind the answer's names
    def __init__(self, in_features, widths, num_classes, tau, seed=0, loss_fn=None):
        nn.Module.__init__(self)
        self.inner = hff.HFFNet(in_features, widths, num_classes, tau=tau, seed=seed)
        self.tau, self.loss_fn = tau, loss_fn
        self.layers = self.inner.layers


# ----------------------------------------------------------------------------
# 02b.4: the training loop


def _loop(schedule_from_one=False, global_perm=False, pass_gen=True, fused=True, zero_grad=True,
          floor_steps=False, record_after=False, lr_after_step=False, mean_losses=False):
    def my_train_one_epoch(net, x, y, batch_size, lr, seed, cooldown=True):
        opt = torch.optim.Adam(net.parameters(), lr=lr, fused=fused)
        gen = torch.Generator(device=x.device).manual_seed(seed)
        perm = torch.randperm(len(x)) if global_perm else torch.randperm(len(x), device=x.device, generator=gen)
        total = len(x) // batch_size if floor_steps else -(-len(x) // batch_size)
        curve = []

        def set_lr(step):
            for group in opt.param_groups:
                group["lr"] = lr * min(1.0, 2.0 * (1.0 - (step + schedule_from_one) / total))

        for step, start in enumerate(range(0, len(x), batch_size)):
            if cooldown and not lr_after_step:
                set_lr(step)
            idx = perm[start:start + batch_size]
            if zero_grad:
                opt.zero_grad()
            losses = net.local_losses(x[idx], y[idx], gen) if pass_gen else net.local_losses(x[idx], y[idx])
            total_loss = sum(losses) / len(losses) if mean_losses else sum(losses)
            total_loss.backward()
            opt.step()
            if cooldown and lr_after_step:
                set_lr(step + 1)
            if record_after:
                with torch.no_grad():
                    losses = net.local_losses(x[idx], y[idx], torch.Generator().manual_seed(0))
            curve.append(torch.stack(losses).detach())
        return torch.stack(curve)
    return my_train_one_epoch


def loop_not_detached(net, x, y, batch_size, lr, seed, cooldown=True):
    return _loop()(net, x, y, batch_size, lr, seed, cooldown).requires_grad_(True) * 1.0


def loop_package(net, x, y, batch_size, lr, seed, cooldown=True):
    from hff_edu.core.data import from_arrays
    from hff_edu.training import trainer
    steps, inner = [], net.backward_local

    def backward_local(*args, **kwargs):
        losses = inner(*args, **kwargs)
        steps.append(torch.stack(losses))
        return losses
    net.backward_local = backward_local
    trainer.fit(net, from_arrays(x, y, x[:5], y[:5], standardise=False), epochs=1, batch_size=batch_size, lr=lr,
                seed=seed, device="cpu", progress=False, cooldown=cooldown)
    return torch.stack(steps)


# ----------------------------------------------------------------------------
# 02b.6 and 02b.7: FF


class FFLayerRight(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x):
        return F.relu(self.linear(x / (x.pow(2).mean(dim=1, keepdim=True).sqrt() + 1e-8)))


class FFLayerL2(FFLayerRight):  # divides by the length, not the root mean square
    def forward(self, x):
        return F.relu(self.linear(x / (x.norm(dim=1, keepdim=True) + 1e-8)))


class FFLayerNoNorm(FFLayerRight):
    def forward(self, x):
        return F.relu(self.linear(x))


class FFLayerNoEps(FFLayerRight):
    def forward(self, x):
        return F.relu(self.linear(x / x.pow(2).mean(dim=1, keepdim=True).sqrt()))


class FFLayerNormAfter(FFLayerRight):  # normalises the output instead of the input
    def forward(self, x):
        h = F.relu(self.linear(x))
        return h / (h.pow(2).mean(dim=1, keepdim=True).sqrt() + 1e-8)


class FFLayerPackage(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.inner = ff.FFLayer(in_features, out_features)
        self.linear = self.inner.linear

    def forward(self, x):
        return self.inner(x)


class FFNetRight(nn.Module):
    def __init__(self, in_features, widths, num_classes, theta, label_scale=1.0, seed=0):
        super().__init__()
        self.num_classes, self.theta, self.label_scale = num_classes, theta, label_scale
        sizes = [in_features + num_classes] + list(widths)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.layers = nn.ModuleList(FFLayerRight(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def local_losses(self, x, y, generator=None):
        C = self.num_classes
        y_neg = ff.wrong_labels(y, C, generator)
        pos = ff.overlay_label(x, y, C, "append", self.label_scale)
        neg = ff.overlay_label(x, y_neg, C, "append", self.label_scale)
        losses = []
        for layer in self.layers:
            pos, neg = layer(pos.detach()), layer(neg.detach())
            losses.append(ff.ff_loss(ff.goodness(pos), ff.goodness(neg), self.theta))
        return losses


class FFNetNoDetach(FFNetRight):
    def local_losses(self, x, y, generator=None):
        C = self.num_classes
        y_neg = ff.wrong_labels(y, C, generator)
        pos = ff.overlay_label(x, y, C, "append", self.label_scale)
        neg = ff.overlay_label(x, y_neg, C, "append", self.label_scale)
        losses = []
        for layer in self.layers:
            pos, neg = layer(pos), layer(neg)
            losses.append(ff.ff_loss(ff.goodness(pos), ff.goodness(neg), self.theta))
        return losses


class FFNetPermutedNegatives(FFNetRight):  # wrong labels as a permutation of the batch's labels (01's bug)
    def local_losses(self, x, y, generator=None):
        C = self.num_classes
        y_neg = y[torch.randperm(len(y), generator=generator)]
        pos = ff.overlay_label(x, y, C, "append", self.label_scale)
        neg = ff.overlay_label(x, y_neg, C, "append", self.label_scale)
        losses = []
        for layer in self.layers:
            pos, neg = layer(pos.detach()), layer(neg.detach())
            losses.append(ff.ff_loss(ff.goodness(pos), ff.goodness(neg), self.theta))
        return losses


class FFNetGlobalRng(FFNetRight):  # ignores the generator it is given
    def local_losses(self, x, y, generator=None):
        return super().local_losses(x, y, None)


class FFNetNoLabelInputs(FFNetRight):  # layer 1 reads only the image
    def __init__(self, in_features, widths, num_classes, theta, label_scale=1.0, seed=0):
        nn.Module.__init__(self)
        self.num_classes, self.theta, self.label_scale = num_classes, theta, label_scale
        sizes = [in_features] + list(widths)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.layers = nn.ModuleList(FFLayerRight(a, b) for a, b in zip(sizes[:-1], sizes[1:]))


class FFNetLabelValueOne(FFNetRight):  # writes the label with value 1, whatever label_scale is
    def local_losses(self, x, y, generator=None):
        self.label_scale, scale = 1.0, self.label_scale
        try:
            return super().local_losses(x, y, generator)
        finally:
            self.label_scale = scale


class FFNetPackage(nn.Module):
    def __init__(self, in_features, widths, num_classes, theta, label_scale=1.0, seed=0):
        super().__init__()
        self.inner = ff.FFNet(in_features, widths, num_classes, theta=theta, label_scale=label_scale,
                              negatives="uniform", seed=seed)
        self.layers = self.inner.layers

    def local_losses(self, x, y, generator=None):
        return self.inner.local_losses(x, y, generator)[:len(self.layers)]


# ----------------------------------------------------------------------------
# 02b.8: LogSumExp scores


def lse_right(z, P, tau_p):
    p_hat = P / (P.norm(dim=-1, keepdim=True) + 1e-8)
    return tau_p * torch.logsumexp(torch.einsum("nd,ckd->nck", z, p_hat) / tau_p, dim=2)


def lse_max_trick(z, P, tau_p):
    s = torch.einsum("nd,ckd->nck", z, F.normalize(P, dim=-1)) / tau_p
    m = s.amax(2, keepdim=True)
    return tau_p * (m[..., 0] + torch.log(torch.exp(s - m).sum(2)))


def lse_naive(z, P, tau_p):  # overflows at tau_p = 0.001
    s = torch.einsum("nd,ckd->nck", z, F.normalize(P, dim=-1))
    return tau_p * torch.log(torch.exp(s / tau_p).sum(2))


def lse_unnormalised(z, P, tau_p):
    return tau_p * torch.logsumexp(torch.einsum("nd,ckd->nck", z, P) / tau_p, dim=2)


def lse_hard_max(z, P, tau_p):
    return torch.einsum("nd,ckd->nck", z, F.normalize(P, dim=-1)).amax(2)


def lse_mean(z, P, tau_p):  # the log-mean-exp: S - tau_p log K
    return lse_right(z, P, tau_p) - tau_p * torch.log(torch.tensor(float(P.shape[1])))


def lse_no_tau(z, P, tau_p):  # logsumexp at temperature 1
    return torch.logsumexp(torch.einsum("nd,ckd->nck", z, F.normalize(P, dim=-1)), dim=2)


def lse_wrong_axis(z, P, tau_p):  # normalises P over the classes
    p_hat = P / (P.norm(dim=0, keepdim=True) + 1e-8)
    return tau_p * torch.logsumexp(torch.einsum("nd,ckd->nck", z, p_hat) / tau_p, dim=2)


def lse_package(z, P, tau_p):
    protos = hff.Prototypes(P.shape[0], P.shape[1], P.shape[2], init="random", tau_p=tau_p)
    with torch.no_grad():
        protos.raw.copy_(P)
    return protos.scores(z)


SAMPLES = {
    "02b.1": dict(
        right={"softplus of the LSE gap": loss_right, "log of 1 + sum, max taken out": loss_right_log1p},
        wrong={"naive exp (overflows)": loss_naive_exp, "true class kept in the LSE": loss_true_class_kept,
               "logsumexp at temperature 1": loss_no_tau_in_lse, "hard max": loss_hard_max,
               "margin with the wrong sign": loss_margin_sign, "sum, not mean": loss_sum,
               "margin not divided by tau": loss_margin_not_scaled, "no gradient": loss_detached,
               "F.cross_entropy (the other form)": loss_cross_entropy, "log_softmax (the other form)": loss_log_softmax},
        package={"hff.hff_loss": lambda S, y, tau, margin=0.0: hff.hff_loss(S, y, tau, margin)},
    ),
    "02b.2": dict(
        right={"as written": LayerRight, "F.normalize": LayerFNormalize},
        wrong={"prototypes never normalised": LayerRawPrototypes,
               "prototypes normalised once, in __init__": LayerNormalisedOnceAtInit,
               "no epsilon": LayerNoEps, "no ReLU": LayerNoReLU, "random prototypes": LayerRandomPrototypes,
               "normalised over the batch": LayerNormOverBatch},
        package={"wraps hff.HFFLayer": LayerPackage, "hff.sphere for z": LayerSphere},
    ),
    "02b.3": dict(
        right={"as in hff.HFFNet": NetRight},
        wrong={"no detach": NetNoDetach, "no fork_rng": NetNoForkRng, "one prototype seed": NetSamePrototypeSeed,
               "no manual_seed": NetNoSeed, "layer losses scaled": NetEveryLayerReadsX,
               "predicts from layer 1": NetPredictFirstLayer, "layers without prototype normalisation": NetRawPrototypes},
        package={"wraps hff.HFFNet": NetPackage},
    ),
    "02b.4": dict(
        right={"fixed loop": _loop(), "fixed loop, unfused Adam (within the tolerance)": _loop(fused=False),
               "learning rate set after each step, for the next": _loop(lr_after_step=True),
               "mean of the losses (Adam does not see a constant factor)": _loop(mean_losses=True)},
        wrong={"the given loop, cool-down counted from 1": _loop(schedule_from_one=True),
               "the given loop, permutation from the global generator": _loop(global_perm=True),
               "the given loop, generator not passed on": _loop(pass_gen=False),
               "no zero_grad": _loop(zero_grad=False), "T rounded down": _loop(floor_steps=True),
               "losses recorded after the update": _loop(record_after=True),
               "curve not detached": loop_not_detached},
        package={"train.fit": loop_package},
    ),
    "02b.6": dict(
        right={"root mean square": FFLayerRight},
        wrong={"L2 norm": FFLayerL2, "no normalisation": FFLayerNoNorm, "no epsilon": FFLayerNoEps,
               "normalises the output": FFLayerNormAfter},
        package={"wraps ff.FFLayer": FFLayerPackage},
    ),
    "02b.7": dict(
        right={"as in ff.FFNet": FFNetRight},
        wrong={"no detach": FFNetNoDetach, "wrong labels permuted from the batch": FFNetPermutedNegatives,
               "ignores the generator": FFNetGlobalRng, "no label inputs": FFNetNoLabelInputs,
               "label value 1": FFNetLabelValueOne},
        package={"wraps ff.FFNet": FFNetPackage},
    ),
    "02b.8": dict(
        right={"logsumexp": lse_right, "max trick by hand": lse_max_trick},
        wrong={"naive exp (overflows)": lse_naive, "prototypes not normalised": lse_unnormalised,
               "hard max": lse_hard_max, "log-mean-exp": lse_mean, "no tau_p": lse_no_tau,
               "normalised over the classes": lse_wrong_axis},
        package={"hff.Prototypes.scores": lse_package},
    ),
    "02b.5": given_samples(
        right={"a": "a", "A": " A"},
        wrong={"b: Adam": "b", "c: flat loss": "c", "d: first epoch": "d", "not an option": "x"},
    ),
}
