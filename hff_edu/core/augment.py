"""Image augmentation for ``train.fit(augment=...)``: random crops and flips on batched tensors.

    from hff_edu.core.augment import RandomCropFlip, for_dataset
    history = train.fit(model, ds, augment=RandomCropFlip(padding=4, flip=True, seed=0))

Works on (N, C, H, W) batches on any device (one advanced-indexing gather, no
per-image Python loop). The random numbers come from the callable's own CPU
generator, so a given seed gives the same crops and flips on CPU and GPU and
does not disturb the trainer's random stream. Taught in 06_convolutional_hff.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


class RandomCropFlip:
    """Pad by ``padding`` pixels, crop back to (H, W) at a random offset, flip left-right with p = 1/2.

    Args:
        padding: pixels added on every side before cropping (4 is the CIFAR
            standard; 2 suits 28x28 Fashion-MNIST); 0 turns cropping off.
        flip: random horizontal flips (fine for clothes and natural images,
            wrong for digits: a flipped 2 is not a 2).
        pad_mode: ``"constant"`` (value ``fill``), ``"reflect"`` or ``"replicate"``.
        fill: the constant for ``pad_mode="constant"``; on standardised data 0
            is the mean pixel. ``None`` pads with each image's own minimum
            (the background of Fashion-MNIST) [ours].
        seed: seed of the callable's generator; :meth:`reset` restarts it.
    """

    def __init__(self, padding: int = 4, flip: bool = True, pad_mode: str = "constant",
                 fill: float | None = 0.0, seed: int = 0):
        if int(padding) != padding or padding < 0:
            raise ValueError(f"padding={padding}: give a non-negative number of pixels.")
        if pad_mode not in ("constant", "reflect", "replicate"):
            raise ValueError(f"Unknown pad_mode {pad_mode!r}: choose 'constant', 'reflect' or 'replicate'.")
        self.padding, self.flip, self.pad_mode, self.fill, self.seed = int(padding), bool(flip), pad_mode, fill, seed
        self.reset()

    def reset(self) -> None:
        """Restart the random stream: the next calls repeat the first ones."""
        self.generator = torch.Generator().manual_seed(self.seed)

    def __repr__(self) -> str:  # deterministic: used in training-cache keys
        return (f"RandomCropFlip(padding={self.padding}, flip={self.flip}, pad_mode={self.pad_mode!r}, "
                f"fill={self.fill}, seed={self.seed})")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_tensor(x) or x.dim() != 4:
            shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
            raise ValueError(f"augment expects an image batch (N, C, H, W), got {shape}: reshape flat "
                             "data to images first (augmentation is for images).")
        n, c, h, w = x.shape
        p = self.padding
        out = x
        if p:
            out = self._pad(x)
            # One random offset per image, drawn on the CPU (same numbers on every device).
            oy = torch.randint(0, 2 * p + 1, (n,), generator=self.generator).to(x.device)
            ox = torch.randint(0, 2 * p + 1, (n,), generator=self.generator).to(x.device)
            rows = (oy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
            cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
            batch = torch.arange(n, device=x.device)[:, None, None, None]
            chans = torch.arange(c, device=x.device)[None, :, None, None]
            out = out[batch, chans, rows, cols]
        if self.flip:
            mask = (torch.rand(n, generator=self.generator) < 0.5).to(x.device)
            out = torch.where(mask[:, None, None, None], out.flip(3), out)
        return out

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        p = self.padding
        if self.pad_mode != "constant":
            return F.pad(x, (p, p, p, p), mode=self.pad_mode)
        if self.fill is not None:
            return F.pad(x, (p, p, p, p), value=float(self.fill))
        # Pad with each image's own minimum (per channel): the background colour.
        low = x.amin(dim=(2, 3), keepdim=True)
        out = F.pad(x - low, (p, p, p, p), value=0.0)
        return out + low


def for_dataset(name: str, seed: int = 0) -> RandomCropFlip:
    """The standard augmentation for a bundled dataset [ours where not standard]:

    - CIFAR-10/100: pad 4 (reflect), crop 32x32, flip (the usual recipe);
    - Fashion-MNIST: pad 2 with the background, crop 28x28, flip (clothes are
      left-right symmetric; 4 pixels cut off too much of a 28x28 image);
    - MNIST / digits: pad 2 / 1 with the background, no flip (a flipped digit is another symbol).
    """
    key = name.lower().replace("_", "-")
    if key.startswith("cifar"):
        return RandomCropFlip(padding=4, flip=True, pad_mode="reflect", seed=seed)
    if key in ("fashion-mnist", "fashionmnist", "fmnist"):
        return RandomCropFlip(padding=2, flip=True, fill=None, seed=seed)
    if key == "mnist":
        return RandomCropFlip(padding=2, flip=False, fill=None, seed=seed)
    if key == "digits":
        return RandomCropFlip(padding=1, flip=False, fill=None, seed=seed)
    raise ValueError(f"No standard augmentation for {name!r}: build RandomCropFlip(padding=..., flip=...) yourself.")
