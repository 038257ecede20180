"""Forecast error against context length (Figs. 4, 5) and the transition check.

For each context length L on a grid we feed the first L true observations of a window, predict
the next ``horizon`` (25) autoregressively (each prediction fed back as input, with its look-ahead
value filled in: see :mod:`mosaic.experiments.three_moons.model`), and measure the mean absolute deviation
from the truth, aligned: the prediction for position L+j is compared with x_{L+j}. The MAD is
averaged over the 6 coordinates, the horizon and N windows of one period triple.

Keys and values of a window batch are computed once; each L then costs ``horizon`` single-query
steps over at most L + horizon cached positions, vectorised over the batch.

**Transition** (``transitions``): the context length at which a curve has made 90% of its drop.
With ``initial`` the MAD at the smallest context of the grid (no information) and ``plateau`` the
median MAD over the last 20% of the grid, the threshold is
``plateau + fraction·(initial - plateau)`` (``fraction`` = 0.1 by default) and the transition is
the smallest grid L from which on the MAD stays at or below it. The paper's claims: with 1 head
the error drops only once the context holds a full common period (transition ≈ lcm, within a
relative ``tolerance``); with 3 heads the model is accurate once the context covers the slowest
individual period, before it has seen every configuration (transition ≤ (1 + tolerance)·max
period and < lcm). With 3 heads the curve is a staircase, one step per moon, so the transition
can come before the slowest period when the last step is small.
"""
from __future__ import annotations

import math

import pandas as pd
import torch

from mosaic.experiments.three_moons.data import ThreeMoonsData, period_marks
from mosaic.experiments.three_moons.model import ThreeMoonsModel

PLATEAU_TAIL = 0.2  # the plateau is the median MAD over the last 20% of the context grid


def context_grid(eval_cfg: dict) -> list[int]:
    """Context lengths ``context_min, context_min + context_step, ..., <= context_max``."""
    lo, hi, step = eval_cfg["context_min"], eval_cfg["context_max"], eval_cfg["context_step"]
    if lo < 1 or hi < lo or step < 1:
        raise ValueError(f"three_moons.eval: need 1 <= context_min <= context_max and context_step >= 1, "
                         f"got {lo}, {hi}, {step}")
    return list(range(lo, hi + 1, step))


@torch.no_grad()
def forecast_errors(model: ThreeMoonsModel, windows: torch.Tensor, contexts: list[int], horizon: int,
                    batch_size: int = 128) -> pd.DataFrame:
    """MAD of ``horizon``-step forecasts per context length over ``windows`` (N, >= max L + horizon, 6).

    Returns columns ``context``, ``mad`` (all horizon steps) and ``mad_first`` (the first,
    one-step prediction only).
    """
    need = max(contexts) + horizon
    if windows.shape[1] < need:
        raise ValueError(f"windows hold {windows.shape[1]} observations, context {max(contexts)} + horizon "
                         f"{horizon} needs {need}")
    model.eval()
    device = next(model.parameters()).device
    windows = windows[:, :need]
    total = torch.zeros(len(contexts), dtype=torch.float64)
    first = torch.zeros(len(contexts), dtype=torch.float64)
    for chunk in windows.split(batch_size):
        chunk = chunk.to(device)
        keys, values = model.precompute(chunk)
        for i, L in enumerate(contexts):
            pred = model.rollout(keys[:, :, :L], values[:, :, : L - 1], chunk[:, L - 1 : L], horizon)
            err = (pred - chunk[:, L : L + horizon]).abs()  # (b, horizon, 6)
            total[i] += err.mean(dim=(1, 2)).sum().item()
            first[i] += err[:, 0].mean(dim=1).sum().item()
    n = windows.shape[0]
    return pd.DataFrame({"context": contexts, "mad": (total / n).tolist(), "mad_first": (first / n).tolist()})


def evaluate_model(model: ThreeMoonsModel, section: dict, n_head: int) -> pd.DataFrame:
    """Error curves of one model on the plotted training triple and the validation triple.

    The windows depend only on the eval seed and the triple, so every model sees the same ones.
    """
    ev = section["eval"]
    data = ThreeMoonsData.from_config(section)
    contexts = context_grid(ev)
    length = max(contexts) + ev["horizon"]
    frames = []
    for split, triple in (("train", tuple(ev["train_triple"])), ("val", data.val_triple)):
        if split == "train" and triple not in [tuple(t) for t in data.train_triples]:
            raise ValueError(f"three_moons.eval.train_triple {triple} is not a training triple "
                             f"({data.train_triples})")
        gen = torch.Generator().manual_seed(ev["seed"])
        windows = data.windows(torch.tensor(triple), ev["windows"], gen, length)
        df = forecast_errors(model, windows, contexts, ev["horizon"], ev["batch_size"])
        marks = period_marks(triple, data.samples_per_unit)
        df.insert(0, "heads", n_head)
        df.insert(1, "split", split)
        df.insert(2, "triple", format_triple(triple))
        df["periods_obs"] = ";".join(f"{p:.1f}" for p in marks["individual"])
        df["max_period_obs"] = marks["max"]
        df["lcm_obs"] = marks["lcm"]
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def format_triple(triple) -> str:
    return "(" + ", ".join(f"{p:g}" for p in triple) + ")"


def detect_transition(contexts, mads, fraction: float = 0.1) -> dict:
    """Transition of one curve (see module docstring); ``transition`` is NaN if there is no drop."""
    s = pd.Series(list(mads), index=list(contexts)).sort_index()
    initial = float(s.iloc[0])
    tail = s[s.index >= s.index[0] + (1 - PLATEAU_TAIL) * (s.index[-1] - s.index[0])]
    plateau = float(tail.median())
    threshold = plateau + fraction * (initial - plateau)
    transition = math.nan
    if initial > plateau:
        above = s[s > threshold]
        after = s.index[s.index > above.index[-1]] if len(above) else s.index
        transition = float(after[0]) if len(after) else math.nan
    return {"initial_mad": initial, "plateau_mad": plateau, "threshold": threshold, "transition": transition}


def transitions_table(curves: pd.DataFrame, fraction: float = 0.1, tolerance: float = 0.2) -> pd.DataFrame:
    """One row per (heads, split): detected transition, its references and the paper's claim.

    Also reported: ``mad_before_lcm`` (the last grid context ≤ 0.9 × the common period) and
    ``mad_after_max`` (the first grid context holding the slowest period plus the one observation
    the first look-ahead value needs, L >= max + 1).
    """
    rows = []
    for (heads, split, triple), df in curves.groupby(["heads", "split", "triple"], sort=True):
        df = df.sort_values("context")
        t = detect_transition(df["context"], df["mad"], fraction)
        lcm, slowest = float(df["lcm_obs"].iloc[0]), float(df["max_period_obs"].iloc[0])
        before_lcm = df[df["context"] <= 0.9 * lcm]["mad"]
        after_max = df[df["context"] >= slowest + 1]["mad"]
        T = t["transition"]
        if heads == 1:  # error drops only once the context holds a full common period
            claim = "transition ≈ common period (lcm)"
            holds = abs(T - lcm) <= tolerance * lcm
        else:  # accurate once the slowest period is covered, before every configuration was seen
            claim = "transition ≤ slowest period, < lcm"
            holds = T <= (1 + tolerance) * slowest and T < lcm
        rows.append({"heads": int(heads), "split": split, "triple": triple, **t,
                     "max_period_obs": slowest, "lcm_obs": lcm,
                     "transition_over_max": T / slowest, "transition_over_lcm": T / lcm,
                     "mad_before_lcm": float(before_lcm.iloc[-1]) if len(before_lcm) else math.nan,
                     "mad_after_max": float(after_max.iloc[0]) if len(after_max) else math.nan,
                     "paper_claim": claim, "claim_holds": bool(holds)})
    return pd.DataFrame(rows)
