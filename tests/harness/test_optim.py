"""MLX's AdamW (no bias correction), the optimizer of the official three-moons code."""
from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn as nn

from mosaic.harness.optim import AdamWNoBiasCorrection
from mosaic.harness.train import TrainConfig, make_optimizer


def two_steps(opt_cls, **kwargs) -> list[torch.Tensor]:
    """w0 = (1, -2); gradients (0.5, -1) then (-0.2, 0.4); lr 0.1 then 0.05; weight decay 0.1."""
    w = nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    opt = opt_cls([w], lr=0.1, betas=(0.9, 0.999), weight_decay=0.1, **kwargs)
    out = []
    for lr, g in ((0.1, [0.5, -1.0]), (0.05, [-0.2, 0.4])):
        for group in opt.param_groups:
            group["lr"] = lr  # as the trainer's schedule sets it before each step
        w.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        out.append(w.detach().clone())
    return out


def test_two_steps_by_hand():
    """Step 1: decay 1 - 0.1*0.1 = 0.99 -> (0.99, -1.98); m = 0.1*g = (0.05, -0.1);
    v = 0.001*g^2 = (2.5e-4, 1e-3); step 0.1*m/sqrt(v) = 0.1*(3.16228, -3.16228)
    -> w1 = (0.99 - 0.316228, -1.98 + 0.316228) = (0.673772, -1.663772).
    Step 2 (lr 0.05): decay 0.995; m = 0.9*m + 0.1*g = (0.025, -0.05);
    v = 0.999*v + 0.001*g^2 = (2.8975e-4, 1.159e-3); m/sqrt(v) = (1.468697, -1.468697)
    -> w2 = 0.995*w1 - 0.05*(1.468697, -1.468697) = (0.596969, -1.582019)."""
    w1, w2 = two_steps(AdamWNoBiasCorrection)
    assert w1.tolist() == pytest.approx([0.673772, -1.663772], abs=2e-6)
    assert w2.tolist() == pytest.approx([0.596969, -1.582019], abs=2e-6)
    # torch's AdamW corrects the bias: its first step is lr * sign(g) = 0.1, not 0.316
    t1, _ = two_steps(torch.optim.AdamW)
    assert t1.tolist() == pytest.approx([0.99 - 0.1, -1.98 + 0.1], abs=1e-6)


def test_state_dict_resumes_identically():
    torch.manual_seed(0)
    a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    b.load_state_dict(a.state_dict())
    opt_a = AdamWNoBiasCorrection(a.parameters(), lr=0.01)
    x = torch.randn(4, 3)
    for step in range(3):
        opt_a.zero_grad()
        a(x).square().sum().backward()
        opt_a.step()
        if step == 0:  # b resumes from a's optimizer state after one step
            b.load_state_dict(a.state_dict())
            opt_b = AdamWNoBiasCorrection(b.parameters(), lr=0.01)
            opt_b.load_state_dict(copy.deepcopy(opt_a.state_dict()))  # as if read from a checkpoint
        elif step > 0:
            opt_b.zero_grad()
            b(x).square().sum().backward()
            opt_b.step()
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_trainer_option():
    model = nn.Linear(3, 2)
    device = torch.device("cpu")
    assert type(make_optimizer(model, TrainConfig(max_steps=1), device)) is torch.optim.AdamW  # default
    cfg = TrainConfig.from_dict({"max_steps": 1, "optimizer": "adamw_no_bias_correction", "weight_decay": 0.1})
    opt = make_optimizer(model, cfg, device)
    assert isinstance(opt, AdamWNoBiasCorrection)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.1, 0.0]  # matrices decayed, biases not
    with pytest.raises(ValueError, match="TrainConfig.optimizer must be one of"):
        TrainConfig.from_dict({"max_steps": 1, "optimizer": "sgd"})
    with pytest.raises(ValueError, match="betas"):
        AdamWNoBiasCorrection(model.parameters(), betas=(0.9, 1.0))
    assert not math.isnan(opt.defaults["eps"])
