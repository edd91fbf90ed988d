"""A plain PyTorch HybridNet training step (Robert, Thome, Cord, ECCV 2018), for timing.

Written from the paper, `shared/docs/methods.md` and the semantics of
`lrep_zoo.models.hybridnet.HybridNet`, in the style of the official code (PyTorch,
built on Mean Teacher): NCHW tensors, `nn.BatchNorm2d` (fused kernels), one
`loss.backward()` and `optimizer.step()` per batch.

One step on a batch `(x, y)` (`y < 0`: unlabelled):

- `target = augment(x)` (2 px translation with mirror padding, optional flip); the
  student sees `target + 0.15 N(0, 1)`;
- student: `E_c -> [h_c, a_1..a_3]`, `C(h_c) -> logits`, `D_c(h_c) -> [x_hat_c,
  r_1..r_3]`, `E_u -> [h_u, ...]`, `D_u(h_u) -> [x_hat_u, ...]` (ConvLarge, the
  c-decoder upsampling with stride-2 transposed convs, the u-decoder with
  nearest-neighbour unpooling then a conv);
- Mean Teacher: a copy of `E_c` + `C` without decoder, in training mode (batch
  statistics, own running statistics, own dropout), on another augmentation and
  noise draw, no gradient; then the EMA `teacher <- d teacher + (1 - d) student`,
  `d = min(1 - 1 / (step + 1), ema_decay)`, of the parameters (as lrep_zoo: before
  this step's optimizer update);
- loss: `w_c CE(labelled) + w_s ramp(step) ||softmax(s) - softmax(t)||^2 +
  w_r ||target - (x_hat_c + x_hat_u)||^2 + w_i mean_l mse(r_l, sg(a_l)) +
  w_b l_br` (branch balancing: per sample, only the branch that reconstructs worse
  gets gradient), then Adam.

`from_keras(model)` builds the torch networks with the weights of a lrep_zoo
HybridNet on `lrep_zoo.models.hybridnet.convlarge` networks (same init); in eval
mode their outputs equal the Keras networks' (`tests/test_peers.py`).

    ref = from_keras(keras_hybridnet)
    losses = ref.train_step(x, y)   # numpy (B, 32, 32, 3) float32, (B,) int64
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

BN_EPS, BN_MOMENTUM = 1e-3, 0.01  # Keras' BatchNormalization defaults (momentum 0.99)


class ConvBNLReLU(nn.Module):
    """Conv (no bias) -> BatchNorm -> LeakyReLU(0.1); Keras' padding conventions."""

    def __init__(self, cin, cout, k, padding="same", stride=1, transposed=False):
        super().__init__()
        self.crop = transposed and stride > 1  # TF 'same' stride-2 transposed conv
        if transposed:
            pad = 0 if padding == "valid" or self.crop else k // 2
            self.conv = nn.ConvTranspose2d(cin, cout, k, stride, pad, bias=False)
        else:
            self.conv = nn.Conv2d(cin, cout, k, stride, 0 if padding == "valid" else k // 2,
                                  bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=BN_EPS, momentum=BN_MOMENTUM)

    def forward(self, x):
        size = x.shape[-1] * 2
        x = self.conv(x)
        if self.crop:  # full transposed conv is 2H + 1; TF's 'same' keeps [0, 2H)
            x = x[:, :, :size, :size]
        return F.leaky_relu(self.bn(x), 0.1)


class Encoder(nn.Module):
    """ConvLarge: returns `h, [a_1, a_2, a_3]`."""

    def __init__(self, channels=3, dropout=0.5):
        super().__init__()
        self.blocks = nn.ModuleDict()
        cin = channels
        for name, cout, k, pad in [("1a", 128, 3, "same"), ("1b", 128, 3, "same"),
                                   ("1c", 128, 3, "same"), ("2a", 256, 3, "same"),
                                   ("2b", 256, 3, "same"), ("2c", 256, 3, "same"),
                                   ("3a", 512, 3, "valid"), ("3b", 256, 1, "same"),
                                   ("3c", 128, 1, "same")]:
            self.blocks[name] = ConvBNLReLU(cin, cout, k, pad)
            cin = cout
        self.dropout = dropout

    def forward(self, x):
        b = self.blocks
        a1 = b["1c"](b["1b"](b["1a"](x)))
        x = F.dropout(F.max_pool2d(a1, 2), self.dropout, self.training)
        a2 = b["2c"](b["2b"](b["2a"](x)))
        x = F.dropout(F.max_pool2d(a2, 2), self.dropout, self.training)
        a3 = b["3a"](x)
        return b["3c"](b["3b"](a3)), [a1, a2, a3]


class Classifier(nn.Module):
    def __init__(self, channels=128, num_classes=10):
        super().__init__()
        self.logits = nn.Linear(channels, num_classes)

    def forward(self, h):
        return self.logits(h.mean(dim=(2, 3)))


class Decoder(nn.Module):
    """Mirror of the encoder: returns `x_hat, [r_1, r_2, r_3]`."""

    def __init__(self, channels=3, upsampling="transposed"):
        super().__init__()
        self.unpool = upsampling == "unpool"
        t = {"transposed": True}
        self.blocks = nn.ModuleDict({
            "3c": ConvBNLReLU(128, 256, 1, **t), "3b": ConvBNLReLU(256, 512, 1, **t),
            "3a": ConvBNLReLU(512, 256, 3, "valid", **t),
            "2c": self._up(256, 256), "2b": ConvBNLReLU(256, 256, 3, **t),
            "2a": ConvBNLReLU(256, 256, 3, **t),
            "1c": self._up(256, 128), "1b": ConvBNLReLU(128, 128, 3, **t),
            "1a": ConvBNLReLU(128, 128, 3, **t),
        })
        self.out = nn.Conv2d(128, channels, 3, padding=1)

    def _up(self, cin, cout):
        if self.unpool:
            return ConvBNLReLU(cin, cout, 3)
        return ConvBNLReLU(cin, cout, 3, stride=2, transposed=True)

    def _upsample(self, name, x):
        if self.unpool:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.blocks[name](x)

    def forward(self, h):
        b = self.blocks
        r3 = b["3b"](b["3c"](h))
        x = self._upsample("2c", b["3a"](r3))
        r2 = b["2a"](b["2b"](x))
        r1 = b["1a"](b["1b"](self._upsample("1c", r2)))
        return self.out(r1), [r1, r2, r3]


def _per_sample_mse(a, b):
    return (a - b).square().flatten(1).mean(1)


class HybridNetStep:
    """The HybridNet training step of the module docstring on torch modules."""

    def __init__(self, encoder_c, classifier, decoder_c, encoder_u, decoder_u,
                 loss_weights, rampup_steps, ema_decay=0.99, input_noise=0.15,
                 max_translation=2, flip=False, learning_rate=1e-3, seed=0):
        self.encoder_c, self.classifier = encoder_c, classifier
        self.decoder_c, self.encoder_u, self.decoder_u = decoder_c, encoder_u, decoder_u
        self.student = nn.ModuleList([encoder_c, classifier, decoder_c, encoder_u, decoder_u])
        self.teacher = copy.deepcopy(nn.ModuleList([encoder_c, classifier]))
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.student_ema = [p for m in (encoder_c, classifier) for p in m.parameters()]
        self.w, self.rampup = dict(loss_weights), dict(rampup_steps)
        self.ema_decay, self.input_noise = float(ema_decay), float(input_noise)
        self.max_translation, self.flip = int(max_translation), bool(flip)
        self.optimizer = torch.optim.Adam(self.student.parameters(), lr=learning_rate, eps=1e-7)
        self.generator = torch.Generator().manual_seed(seed)
        self.step = 0
        self.student.train()
        self.teacher.train()

    # ------------------------------------------------------------- augmentation
    def augment(self, x_nhwc):
        """Per-sample shift (mirror padding) and flip of NHWC images; returns NCHW."""
        b, h, w, _ = x_nhwc.shape
        p = self.max_translation
        x = x_nhwc
        if p:
            padded = F.pad(x_nhwc.permute(0, 3, 1, 2), (p, p, p, p), mode="reflect")
            dy = torch.randint(0, 2 * p + 1, (b,), generator=self.generator)
            dx = torch.randint(0, 2 * p + 1, (b,), generator=self.generator)
            rows = (torch.arange(h)[None, :] + dy[:, None])[:, None, :, None]
            cols = (torch.arange(w)[None, :] + dx[:, None])[:, None, None, :]
            batch = torch.arange(b)[:, None, None, None]
            chans = torch.arange(x.shape[-1])[None, :, None, None]
            x = padded[batch, chans, rows, cols]  # (B, C, H, W)
        else:
            x = x.permute(0, 3, 1, 2).contiguous()
        if self.flip:
            flip = torch.rand(b, generator=self.generator) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
        return x

    def noisy(self, x):
        if self.input_noise <= 0:
            return x
        return x + self.input_noise * torch.randn(x.shape, generator=self.generator)

    def ramp(self, term):
        length = self.rampup.get(term, 0)
        if length <= 0:
            return 1.0
        t = min(max(self.step / length, 0.0), 1.0)
        return float(np.exp(-5.0 * (1.0 - t) ** 2))

    # --------------------------------------------------------------------- step
    def train_step(self, x, y) -> dict:
        """One optimizer step on numpy `x` (B, H, W, C) and `y` (B,); returns the terms."""
        x = torch.as_tensor(x, dtype=torch.float32)
        y = torch.as_tensor(y, dtype=torch.int64)
        target = self.augment(x)
        inputs = self.noisy(target)
        h_c, acts_c = self.encoder_c(inputs)
        logits = self.classifier(h_c)
        x_hat_c, recs_c = self.decoder_c(h_c)
        h_u, acts_u = self.encoder_u(inputs)
        x_hat_u, recs_u = self.decoder_u(h_u)

        with torch.no_grad():
            view = self.noisy(self.augment(x))
            teacher_logits = self.teacher[1](self.teacher[0](view)[0])
            decay = min(1.0 - 1.0 / (self.step + 1.0), self.ema_decay)
            for t, s in zip(self.teacher.parameters(), self.student_ema):
                t.mul_(decay).add_(s, alpha=1.0 - decay)

        labelled = y >= 0
        ce = F.cross_entropy(logits, y.clamp(min=0), reduction="none")
        terms = {"classification": (ce * labelled).sum() / labelled.sum().clamp(min=1)}
        probabilities = logits.softmax(-1)
        terms["stability"] = (probabilities - teacher_logits.softmax(-1)).square().mean()
        terms["reconstruction"] = _per_sample_mse(target, x_hat_c + x_hat_u).mean()
        pairs = list(zip(acts_c, recs_c)) + list(zip(acts_u, recs_u))
        terms["intermediate"] = sum(
            _per_sample_mse(a.detach(), r).mean() for a, r in pairs) / len(pairs)
        with torch.no_grad():
            train_c = _per_sample_mse(target, x_hat_u) < _per_sample_mse(target, x_hat_c)
        error_c = _per_sample_mse(target - x_hat_u.detach(), x_hat_c)
        error_u = _per_sample_mse(target - x_hat_c.detach(), x_hat_u)
        terms["balancing"] = torch.where(train_c, error_c, error_u).mean()

        loss = sum(self.w[k] * self.ramp(k) * v for k, v in terms.items() if self.w[k] > 0)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.step += 1
        return {k: float(v) for k, v in terms.items()}

    def fit(self, x, y, batch_size=100, epochs=1, verbose=0, shuffle=False):
        """`train_step` over consecutive batches (the timing interface of `peers.py`)."""
        for _ in range(epochs):
            for start in range(0, len(x) - batch_size + 1, batch_size):
                logs = self.train_step(x[start:start + batch_size], y[start:start + batch_size])
        return logs


# -------------------------------------------------------------------- from Keras
def _copy_block(block: ConvBNLReLU, keras_net, prefix: str) -> None:
    kernel = keras_net.get_layer(f"{prefix}_conv").get_weights()[0]
    block.conv.weight.copy_(torch.as_tensor(kernel).permute(3, 2, 0, 1))
    gamma, beta, mean, var = keras_net.get_layer(f"{prefix}_bn").get_weights()
    for target, value in ((block.bn.weight, gamma), (block.bn.bias, beta),
                          (block.bn.running_mean, mean), (block.bn.running_var, var)):
        target.copy_(torch.as_tensor(value))


@torch.no_grad()
def torch_networks(keras_nets: dict) -> dict:
    """Torch ConvLarge networks holding the weights of lrep_zoo's `convlarge` networks.

    Kernels are permuted from Keras' `(kh, kw, in, out)` (transposed convs:
    `(kh, kw, out, in)`) to torch's `(out, in, kh, kw)` (`(in, out, kh, kw)`).
    """
    channels = int(keras_nets["encoder_c"].inputs[0].shape[-1])
    out = {}
    for key in ("encoder_c", "encoder_u"):
        net, module = keras_nets[key], Encoder(channels)
        for name, block in module.blocks.items():
            _copy_block(block, net, f"{net.name}_{name}")
        out[key] = module
    dense = keras_nets["classifier"].get_layer("classifier_logits").get_weights()
    out["classifier"] = Classifier(dense[0].shape[0], dense[0].shape[1])
    out["classifier"].logits.weight.copy_(torch.as_tensor(dense[0].T))
    out["classifier"].logits.bias.copy_(torch.as_tensor(dense[1]))
    for key, upsampling in (("decoder_c", "transposed"), ("decoder_u", "unpool")):
        net, module = keras_nets[key], Decoder(channels, upsampling)
        for name, block in module.blocks.items():
            _copy_block(block, net, f"{net.name}_{name}")
        kernel, bias = net.get_layer(f"{net.name}_out").get_weights()
        module.out.weight.copy_(torch.as_tensor(kernel).permute(3, 2, 0, 1))
        module.out.bias.copy_(torch.as_tensor(bias))
        out[key] = module
    return out


def from_keras(model, learning_rate: float = 1e-3, seed: int = 0) -> HybridNetStep:
    """The reference step on the networks and settings of a lrep_zoo `HybridNet`."""
    nets = {k: getattr(model, k) for k in
            ("encoder_c", "classifier", "decoder_c", "encoder_u", "decoder_u")}
    if any(v is None for v in nets.values()) or model.fusion != "late":
        raise ValueError("The reference step needs both branches, late fusion, ConvLarge nets.")
    return HybridNetStep(**torch_networks(nets), loss_weights=model.loss_weights,
                         rampup_steps=model.rampup_steps, ema_decay=model.ema_decay,
                         input_noise=model.input_noise, max_translation=model.max_translation,
                         flip=model.flip, learning_rate=learning_rate, seed=seed)
