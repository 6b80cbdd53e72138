"""Seed-style reference GAN loops, written the way the seed posts write them, for speed comparisons.

Pure torch (no ganlab import). On purpose these keep the seeds' habits that cost time:
a DataLoader over an in-memory TensorDataset with batches copied to the device each step,
Sigmoid + BCELoss, `zero_grad()` with its default, a `.item()`/`float()` host sync every step
for logging, fp32, no compile. Each function returns
`{"steps", "seconds", "steps_per_s", "loss_d", "loss_g"}`, timed after `warmup` untimed steps.
See docs/SOURCES.md for where each layer and number comes from.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset


# ------------------------------------------------------------------------------ helpers
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _cycle(loader: DataLoader) -> Iterator:
    """Minibatches forever: the seeds' `for epoch ...: for batch in loader:` without the epoch count."""
    while True:
        yield from loader


def _timed(step: Callable[[], tuple[float, float]], steps: int, warmup: int, device: torch.device) -> dict:
    """Run `warmup` untimed steps, then `steps` timed ones; the clock is read after a CUDA sync."""
    for _ in range(warmup):
        step()
    _sync(device)
    t0 = time.perf_counter()
    loss_d = loss_g = float("nan")
    for _ in range(steps):
        loss_d, loss_g = step()
    _sync(device)
    wall = time.perf_counter() - t0
    return {"steps": steps, "seconds": wall, "steps_per_s": steps / wall if wall > 0 else float("inf"),
            "loss_d": loss_d, "loss_g": loss_g}


def digits_images(size: int, channels: int = 1) -> torch.Tensor:
    """scikit-learn's bundled 8x8 digits (offline), bilinearly upsampled to size x size, in [-1, 1]."""
    from sklearn.datasets import load_digits

    x = torch.from_numpy(load_digits().images).float() / 16.0  # (1797, 8, 8) in [0, 1]
    x = F.interpolate(x[:, None], size=(size, size), mode="bilinear", align_corners=False)  # (N, 1, S, S)
    x = (x.clamp(0, 1) * 2 - 1).repeat(1, channels, 1, 1)  # (N, C, S, S) in [-1, 1]
    return x.contiguous()


def _d2l_init(net: nn.Module) -> None:
    """d2l's _initialize_weights: Linear weights ~ N(0, 0.02), biases 0."""
    for m in net.modules():
        if isinstance(m, nn.Linear):
            m.weight.data.normal_(0, 0.02)
            m.bias.data.zero_()


# ------------------------------------------------------------------ d2l: 2-D Gaussian (000)
def d2l_gauss2d(steps: int, batch_size: int = 8, device: str = "cpu", seed: int = 0, *,
                warmup: int = 20) -> dict:
    """Mirrors seeds/000 (d2l 'Generative Adversarial Networks'): linear G, 2-5-3-1 tanh D, Adam 0.05/0.005."""
    dev = torch.device(device)
    torch.manual_seed(seed)
    np.random.seed(seed)
    latent_dim, lr_D, lr_G = 2, 0.05, 0.005

    # "real" data: a Gaussian with mean b and covariance A^T A
    X = np.random.normal(size=(1000, 2))  # (1000, 2) float64, as d2l
    A = np.array([[1, 2], [-0.1, 0.5]])
    b = np.array([1, 2])
    data = X.dot(A) + b  # (1000, 2) float64
    # d2l: DataLoader(data, batch_size) -- no shuffle; float64 batches, cast in update_D
    data_iter = DataLoader(TensorDataset(torch.from_numpy(data)), batch_size=batch_size)

    net_G = nn.Sequential(nn.Linear(2, 2)).to(dev)
    net_D = nn.Sequential(nn.Linear(2, 5), nn.Tanh(), nn.Linear(5, 3), nn.Tanh(),
                          nn.Linear(3, 1), nn.Sigmoid()).to(dev)
    _d2l_init(net_G)
    _d2l_init(net_D)
    loss = nn.BCELoss()
    trainer_D = torch.optim.Adam(net_D.parameters(), lr=lr_D)
    trainer_G = torch.optim.Adam(net_G.parameters(), lr=lr_G)
    batches = _cycle(data_iter)

    def update_D(X, Z) -> float:
        bs = X.shape[0]
        ones = torch.FloatTensor(np.ones(bs)).view(bs, 1).to(dev)  # (B, 1)
        zeros = torch.FloatTensor(np.zeros(bs)).view(bs, 1).to(dev)  # (B, 1)
        real_Y = net_D(X.float())  # (B, 1) probabilities
        fake_X = net_G(Z)  # (B, 2); not detached in d2l: backward also fills G's grads
        fake_Y = net_D(fake_X)  # (B, 1)
        loss_D = (loss(real_Y, ones) + loss(fake_Y, zeros)) / 2
        loss_D.backward()
        trainer_D.step()
        return float(loss_D.sum().detach())  # host sync every step (d2l: float(loss_D.sum()))

    def update_G(Z) -> float:
        bs = Z.shape[0]
        ones = torch.FloatTensor(np.ones((bs,))).view(bs, 1).to(dev)  # (B, 1)
        fake_X = net_G(Z)  # (B, 2)
        fake_Y = net_D(fake_X)  # (B, 1)
        loss_G = loss(fake_Y, ones)
        loss_G.backward()
        trainer_G.step()
        return float(loss_G.sum().detach())

    def step() -> tuple[float, float]:
        (X,) = next(batches)
        X = X.to(dev)  # (B, 2) float64
        Z = torch.FloatTensor(np.random.normal(0, 1, (X.shape[0], latent_dim))).to(dev)  # (B, 2); same Z for D and G
        trainer_D.zero_grad()
        d = update_D(X, Z)
        trainer_G.zero_grad()
        g = update_G(Z)
        return d, g

    return _timed(step, steps, warmup, dev)


# -------------------------------------------------- post 002: MLP GAN on 28x28 digits
def mlp28(steps: int, batch_size: int = 64, device: str = "cpu", seed: int = 0,
          data: Optional[torch.Tensor] = None, *, warmup: int = 5) -> dict:
    """Mirrors seeds/002 (handwritten digits): BN+GELU MLP G with Sigmoid out, GELU MLP D, Adam 3e-4 (0.4, 0.8)."""
    dev = torch.device(device)
    torch.manual_seed(seed)
    image_size, latent_dim = [1, 28, 28], 100  # latent_dim is not in the post; 100 as in public copies
    n_pix = int(np.prod(image_size, dtype=np.int32))
    if data is None:
        data = digits_images(28)  # (1797, 1, 28, 28) in [-1, 1], like Normalize([0.5], [0.5])
    assert data.dim() == 4 and tuple(data.shape[1:]) == (1, 28, 28), f"data must be (N, 1, 28, 28), got {tuple(data.shape)}"
    dataloader = DataLoader(TensorDataset(data, torch.zeros(len(data), dtype=torch.long)),
                            batch_size=batch_size, shuffle=True, drop_last=True)

    generator = nn.Sequential(
        nn.Linear(latent_dim, 128), nn.BatchNorm1d(128), nn.GELU(),
        nn.Linear(128, 256), nn.BatchNorm1d(256), nn.GELU(),
        nn.Linear(256, 512), nn.BatchNorm1d(512), nn.GELU(),
        nn.Linear(512, 1024), nn.BatchNorm1d(1024), nn.GELU(),
        nn.Linear(1024, n_pix), nn.Sigmoid(),  # the post's G ends in Sigmoid although data are in [-1, 1]
    ).to(dev)
    discriminator = nn.Sequential(
        nn.Linear(n_pix, 512), nn.GELU(), nn.Linear(512, 256), nn.GELU(), nn.Linear(256, 128), nn.GELU(),
        nn.Linear(128, 64), nn.GELU(), nn.Linear(64, 32), nn.GELU(), nn.Linear(32, 1), nn.Sigmoid(),
    ).to(dev)
    g_optimizer = torch.optim.Adam(generator.parameters(), lr=0.0003, betas=(0.4, 0.8), weight_decay=0.0001)
    d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=0.0003, betas=(0.4, 0.8), weight_decay=0.0001)
    loss_fn = nn.BCELoss()
    labels_one = torch.ones(batch_size, 1).to(dev)  # (B, 1)
    labels_zero = torch.zeros(batch_size, 1).to(dev)  # (B, 1)
    batches = _cycle(dataloader)

    def G(z):
        return generator(z).reshape(z.shape[0], *image_size)  # (B, 1, 28, 28)

    def D(image):
        return discriminator(image.reshape(image.shape[0], -1))  # (B, 784) -> (B, 1)

    def step() -> tuple[float, float]:
        gt_images, _ = next(batches)
        gt_images = gt_images.to(dev)  # (B, 1, 28, 28)
        z = torch.randn(batch_size, latent_dim).to(dev)  # (B, 100), drawn on the CPU as in the post
        pred_images = G(z)  # (B, 1, 28, 28)
        # G first (the post's order): make D call fakes real
        g_optimizer.zero_grad()
        g_loss = loss_fn(D(pred_images), labels_one)
        g_loss.backward()
        g_optimizer.step()
        # then D: real -> 1, fake -> 0; the two terms are summed (sits at 1.386, not 0.693)
        d_optimizer.zero_grad()
        real_loss = loss_fn(D(gt_images), labels_one)
        fake_loss = loss_fn(D(pred_images.detach()), labels_zero)
        d_loss = real_loss + fake_loss
        d_loss.backward()
        d_optimizer.step()
        return d_loss.item(), g_loss.item()  # host syncs every step, for the log

    return _timed(step, steps, warmup, dev)


# ---------------------------------------------------------------- post 001: DCGAN (anime faces)
def _dcgan_nets(image_size: int, nz: int, nc: int) -> tuple[nn.Module, nn.Module]:
    """Post 001's DCGenerator / DCDiscriminator. 64: G [512,256,128,64], D [64,128,256,512].

    32: the first (widest, 512-channel) block of each is dropped, G [256,128,64], D [64,128,256],
    so G goes 1->4->8->16->32 and D 32->16->8->4->1 with the same kernel/stride/padding.
    """
    g_filters = {64: [512, 256, 128, 64], 32: [256, 128, 64]}[image_size]
    d_filters = g_filters[::-1]

    g_hidden = nn.Sequential()
    for i, f in enumerate(g_filters):
        if i == 0:
            deconv = nn.ConvTranspose2d(nz, f, kernel_size=4, stride=1, padding=0, bias=False)  # 1x1 -> 4x4
        else:
            deconv = nn.ConvTranspose2d(g_filters[i - 1], f, kernel_size=4, stride=2, padding=1, bias=False)  # x2
        g_hidden.add_module(f"deconv{i + 1}", deconv)
        g_hidden.add_module(f"bn{i + 1}", nn.BatchNorm2d(f))
        g_hidden.add_module(f"act{i + 1}", nn.ReLU(inplace=True))
    G = nn.Sequential(g_hidden, nn.Sequential(
        nn.ConvTranspose2d(g_filters[-1], nc, kernel_size=4, stride=2, padding=1, bias=False), nn.Tanh()))

    d_hidden = nn.Sequential()
    for i, f in enumerate(d_filters):
        d_hidden.add_module(f"conv{i + 1}", nn.Conv2d(nc if i == 0 else d_filters[i - 1], f, kernel_size=4,
                                                      stride=2, padding=1, bias=False))  # /2
        if i != 0:  # no BN on D's first layer
            d_hidden.add_module(f"bn{i + 1}", nn.BatchNorm2d(f))
        d_hidden.add_module(f"act{i + 1}", nn.LeakyReLU(0.2, inplace=True))
    D = nn.Sequential(d_hidden, nn.Sequential(
        nn.Conv2d(d_filters[-1], 1, kernel_size=4, stride=1, padding=0, bias=False), nn.Sigmoid()))  # 4x4 -> 1x1
    return G, D


def dcgan(steps: int, image_size: int = 64, batch_size: int = 64, device: str = "cpu", seed: int = 0,
          data: Optional[torch.Tensor] = None, *, warmup: int = 2) -> dict:
    """Mirrors seeds/001 (GAN/DCGAN, anime faces): ConvT-BN-ReLU G, Conv-BN-LeakyReLU D, Adam 2e-4 (0.5, 0.999)."""
    if image_size not in (32, 64):
        raise ValueError(f"image_size must be 32 or 64, got {image_size}")
    dev = torch.device(device)
    torch.manual_seed(seed)
    nz, nc, lr, betas = 100, 3, 2e-4, (0.5, 0.999)  # post: cfg.lr / cfg.betas "from the DCGAN paper"
    if data is None:
        data = digits_images(image_size, channels=nc)  # (1797, 3, S, S) in [-1, 1]
    assert tuple(data.shape[1:]) == (nc, image_size, image_size), \
        f"data must be (N, {nc}, {image_size}, {image_size}), got {tuple(data.shape)}"
    dataloader = DataLoader(TensorDataset(data), batch_size=batch_size, shuffle=True)
    G, D = _dcgan_nets(image_size, nz, nc)
    G, D = G.to(dev), D.to(dev)

    real_label, fake_label = 1.0, 0.0  # the post writes int 1/0: torch.full then makes int64 labels and BCELoss fails
    criterion = nn.BCELoss()
    optimizerG = torch.optim.Adam(G.parameters(), lr=lr, betas=betas)
    optimizerD = torch.optim.Adam(D.parameters(), lr=lr, betas=betas)
    batches = _cycle(dataloader)

    def step() -> tuple[float, float]:
        data_ = next(batches)
        # (1) train D: maximize log D(x) + log(1 - D(G(z)))
        D.zero_grad()
        real = data_[0].to(dev)  # (B, 3, S, S)
        bs = real.size(0)
        label = torch.full((bs,), real_label, device=dev)  # (B,)
        output = D(real).view(-1)  # (B,)
        errD_real = criterion(output, label)
        errD_real.backward()
        D_x = output.mean().item()  # host sync
        noise = torch.randn(bs, nz, 1, 1, device=dev)  # (B, 100, 1, 1)
        fake = G(noise)  # (B, 3, S, S)
        label.fill_(fake_label)
        output = D(fake.detach()).view(-1)  # (B,)
        errD_fake = criterion(output, label)
        errD_fake.backward()
        D_G_z1 = output.mean().item()  # host sync
        errD = errD_fake + errD_real  # summed: sits at 1.386 at equilibrium
        optimizerD.step()
        # (2) train G: maximize log D(G(z)) (label the fakes real)
        G.zero_grad()
        label.fill_(real_label)
        output = D(fake).view(-1)  # (B,)
        errG = criterion(output, label)
        errG.backward()
        D_G_z2 = output.mean().item()  # host sync
        optimizerG.step()
        del D_x, D_G_z1, D_G_z2  # the post prints these; computing them is the cost we mirror
        return errD.item(), errG.item()

    return _timed(step, steps, warmup, dev)


if __name__ == "__main__":
    # smoke: a handful of steps each on the CPU
    print("d2l_gauss2d", d2l_gauss2d(20, warmup=5))
    print("mlp28", mlp28(5, warmup=1))
    print("dcgan32", dcgan(3, image_size=32, warmup=1))
    print("dcgan64", dcgan(2, image_size=64, warmup=1))
