#!/usr/bin/env python3
"""Golden values for the training losses, optimisers, learning-rate schedules and gradient clipping.

Run once; the outputs (Tests/Fixtures/training/losses/*.json) are committed and the Swift tests in
Tests/TrainingTests (LossTests, OptimizerTests, ScheduleTests) compare against them. CI never runs this.

    /work/venv-torch/bin/python Scripts/make_loss_fixtures.py     # torch 2.13 CPU, transformers 5.23
    (or: python3 -m venv V && V/bin/pip install -r Scripts/requirements-training.txt)

Oracles, all in float32 on the CPU:
- infonce.json: the issue's InfoNCE (section 3) written directly in torch and differentiated by autograd,
  for every combination of the three term flags plus two other temperature/margin settings, on a batch of
  4 examples with 3, 2, 3 and 2 hard negatives (dim 40, raw states of norms 0.5-8) that contains a hard
  negative almost equal to its query (masked by the similarity rule), two examples sharing one positive
  text and state (the other one's positive masked by the text rule only: its similarity equals the
  positive's), a hard negative with the positive's text, and a query close to another example's query.
- reranker.json: pointwise and listwise cross-entropy via torch.nn.functional.cross_entropy + autograd
  on ragged [no, yes] logits.
- optimizers.json: torch.optim.AdamW (single-tensor path, the CPU default) and torch.optim.SGD driven by
  transformers' get_linear_schedule_with_warmup / get_constant_schedule_with_warmup through LambdaLR,
  with torch.nn.utils.clip_grad_norm_ before each step, as Hugging Face's Trainer orders them; weights,
  lr, pre-clip norms and AdamW's moments after each step. Fixed gradients per step, tensors of 40, 37
  and 3 values (37 exercises both the vectorised body and the scalar tail of torch's kernels).
- schedules.json: learning rates of transformers' constant/linear/cosine schedules for steps 0...T+2,
  with warm-up given in steps or as a ratio (TrainingArguments.get_warmup_steps: ceil(ratio * T)).
"""
import json
import math
import os
import types

import numpy
import torch
import torch.nn.functional as F
from transformers import TrainingArguments
from transformers.optimization import (
    get_constant_schedule_with_warmup,
    get_cosine_schedule_with_warmup,
    get_linear_schedule_with_warmup,
)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "training", "losses")
torch.manual_seed(20261203)
gen = torch.Generator().manual_seed(20261203)


def randn(*shape):
    return torch.randn(*shape, generator=gen, dtype=torch.float32)


def short(value):
    """The shortest decimal that reads back (as a double rounded to float32) as this float32 value."""
    return float(str(numpy.float32(value)))


def floats(t):
    """A tensor (or nested list of tensors) as nested lists of floats, each the shortest decimal of its
    float32 value (half the size of a double's 17 digits; Float(Double(text)) restores the exact value)."""
    if isinstance(t, (list, tuple)):
        return [floats(x) for x in t]
    values = t.detach().to(torch.float32)
    if values.dim() == 0:
        return short(values.item())
    return [floats(x) for x in values] if values.dim() > 1 else [short(x) for x in values.tolist()]


def write(name, payload):
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        json.dump(payload, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.relpath(path)} ({os.path.getsize(path)} bytes)")


# ---------------------------------------------------------------- InfoNCE

def infonce_batch():
    dim = 40
    unit = lambda v: v / v.norm()
    q = [unit(randn(dim)) for _ in range(4)]
    # Example 3's query is close to example 0's (a q-q term above the threshold for some settings).
    q[3] = unit(q[0] + 0.35 * unit(randn(dim)))
    positives = [unit(q[i] + 0.9 * unit(randn(dim))) for i in range(4)]
    # Examples 1 and 2 share one positive (same text, same state); query 2 is built around it.
    q[2] = unit(positives[1] + 0.8 * unit(randn(dim)))
    positives[2] = positives[1].clone()
    docs, texts = [], []
    counts = [3, 2, 3, 2]
    for i in range(4):
        negs = [unit(0.4 * q[i] + unit(randn(dim))) for _ in range(counts[i])]
        if i == 0:
            negs[1] = unit(q[0] + 0.05 * unit(randn(dim)))  # a false negative: nearly the query itself
        docs.append([positives[i]] + negs)
        texts.append([f"positive {i}"] + [f"negative {i}.{k}" for k in range(counts[i])])
    texts[2][0] = texts[1][0]
    texts[3][2] = texts[3][0]  # a hard negative whose text is the positive's (a data-pipeline duplicate)
    # Raw states: arbitrary norms, as the final norm leaves them.
    scale = lambda: float(torch.empty(1).uniform_(0.5, 8.0, generator=gen))
    q = [x * scale() for x in q]
    docs = [[x * scale() for x in ex] for ex in docs]
    docs[2][0] = docs[1][0].clone() * 1.0  # same text, same state
    return q, docs, texts


def infonce_torch(q, docs, texts, tau, margin, qq, dd, inbatch):
    """The loss exactly as issue 16 section 3 / TRAINING.md state it, with autograd."""
    qs = [x.clone().requires_grad_(True) for x in q]
    ds = [[x.clone().requires_grad_(True) for x in ex] for ex in docs]
    qn = [F.normalize(x, dim=-1) for x in qs]
    dn = [[F.normalize(x, dim=-1) for x in ex] for ex in ds]
    n = len(qs)
    losses, masked = [], 0
    for i in range(n):
        pos = torch.dot(qn[i], dn[i][0])
        terms = [(pos, True)]  # (similarity, keep)
        threshold = pos.detach() + margin

        def add(sim, text=None):
            nonlocal masked
            keep = not (bool(sim.detach() > threshold) or (text is not None and text == texts[i][0]))
            masked += 0 if keep else 1
            terms.append((sim, keep))

        for k in range(1, len(ds[i])):
            add(torch.dot(qn[i], dn[i][k]), texts[i][k])
        if inbatch:
            if qq:
                for j in range(n):
                    if j != i:
                        add(torch.dot(qn[i], qn[j]))
            if dd:
                for j in range(n):
                    if j != i:
                        for k in range(len(ds[j])):
                            add(torch.dot(dn[i][0], dn[j][k]), texts[j][k])
            for j in range(n):
                if j != i:
                    for k in range(len(ds[j])):
                        add(torch.dot(qn[i], dn[j][k]), texts[j][k])
        logits = torch.stack([s for s, _ in terms]) / tau
        keep = torch.tensor([k for _, k in terms])
        losses.append(torch.logsumexp(logits.masked_fill(~keep, float("-inf")), dim=0) - logits[0])
    loss = torch.stack(losses).mean()
    loss.backward()
    return loss, [x.grad for x in qs], [[x.grad for x in ex] for ex in ds], masked


def make_infonce():
    q, docs, texts = infonce_batch()
    cases = []
    settings = [(0.05, 0.1, qq, dd, ib) for ib in (True, False) for qq in (True, False) for dd in (True, False)]
    settings += [(0.02, 0.05, True, True, True), (0.1, 0.0, True, True, True)]
    for tau, margin, qq, dd, ib in settings:
        loss, gq, gd, masked = infonce_torch(q, docs, texts, tau, margin, qq, dd, ib)
        cases.append({
            "temperature": tau, "margin": margin,
            "include_query_query": qq, "include_document_document": dd, "include_in_batch_negatives": ib,
            "loss": loss.item(), "masked_terms": masked,
            "query_gradients": floats(gq), "document_gradients": floats(gd),
        })
        print(f"infonce tau={tau} margin={margin} qq={qq} dd={dd} ib={ib}: loss {loss.item():.6f}, masked {masked}")
    write("infonce.json", {
        "description": "InfoNCE of issue 16 section 3 by torch autograd (float32); see Scripts/make_loss_fixtures.py",
        "queries": floats(q), "documents": floats(docs), "document_texts": texts, "cases": cases,
    })


# ---------------------------------------------------------------- reranker

def make_reranker():
    counts = [3, 4, 2]
    logits = [randn(c, 2) * 3 for c in counts]
    logits[1][2] = torch.tensor([40.0, -35.0])  # a confident pair: exercises the stable log-sum-exp
    out = {"description": "reranker losses by torch.nn.functional.cross_entropy + autograd (float32)",
           "logits": floats(logits)}
    # Pointwise: every pair, target yes (1) for the positive and no (0) for negatives, mean over pairs.
    xs = [x.clone().requires_grad_(True) for x in logits]
    targets = torch.cat([torch.tensor([1] + [0] * (c - 1)) for c in counts])
    loss = F.cross_entropy(torch.cat(xs), targets)
    loss.backward()
    out["pointwise"] = {"loss": loss.item(), "gradients": floats([x.grad for x in xs])}
    # Listwise: per example, softmax over the yes logits, cross-entropy on the positive, mean over examples.
    xs = [x.clone().requires_grad_(True) for x in logits]
    loss = torch.stack([F.cross_entropy(x[:, 1].unsqueeze(0), torch.tensor([0])) for x in xs]).mean()
    loss.backward()
    out["listwise"] = {"loss": loss.item(), "gradients": floats([x.grad for x in xs])}
    print(f"reranker pointwise {out['pointwise']['loss']:.6f} listwise {out['listwise']['loss']:.6f}")
    write("reranker.json", out)


# ---------------------------------------------------------------- optimisers

def flat(tensors):
    """Each tensor of a list flattened (row-major), as the Swift TrainableParameter stores it."""
    return [floats(t.reshape(-1)) for t in tensors]


def run_optimizer(kind, shapes, gradients, peak, weight_decay, warmup, total, steps, max_norm, initial):
    params = [torch.nn.Parameter(x.clone()) for x in initial]
    if kind == "adamw":
        opt = torch.optim.AdamW(params, lr=peak, betas=(0.9, 0.999), eps=1e-8, weight_decay=weight_decay)
        sched = get_linear_schedule_with_warmup(opt, num_warmup_steps=warmup, num_training_steps=total)
    else:
        opt = torch.optim.SGD(params, lr=peak, weight_decay=weight_decay)
        sched = get_constant_schedule_with_warmup(opt, num_warmup_steps=warmup)
    records = []
    for step in range(steps):
        for p, g in zip(params, gradients[step]):
            p.grad = g.clone()
        lr = opt.param_groups[0]["lr"]
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm) if max_norm > 0 else None
        record = {"learning_rate": lr, "clipped_gradients": flat([p.grad for p in params])}
        if norm is not None:
            record["grad_norm"] = norm.item()
        opt.step()
        sched.step()
        record["weights"] = flat([p.data for p in params])
        if kind == "adamw":
            record["exp_avg"] = flat([opt.state[p]["exp_avg"] for p in params])
            record["exp_avg_sq"] = flat([opt.state[p]["exp_avg_sq"] for p in params])
        records.append(record)
    return records


def make_optimizers():
    shapes = [[4, 10], [37], [3]]
    names = ["layers.0.self_attn.q_proj.lora_A.weight", "layers.0.mlp.down_proj.lora_B.weight", "norm.weight"]
    initial = [randn(*s) for s in shapes]
    steps = 4
    # Step gradients of very different sizes: the first two are clipped, the last two are not.
    scales = [3.0, 0.8, 0.01, 0.05]
    gradients = [[randn(*s) * scales[t] for s in shapes] for t in range(steps)]
    gradients[2][2] = torch.zeros(3)  # a parameter with zero gradient still moves (momentum, decay)
    out = {
        "description": "AdamW/SGD + HF schedules + clip_grad_norm_ in Trainer order (float32)",
        "names": names, "shapes": shapes, "initial": flat(initial), "gradients": [flat(g) for g in gradients],
        "runs": [],
    }
    configs = [
        # AdamW, linear schedule with 2 warm-up steps of 6, weight decay, clipping at 1.
        dict(kind="adamw", peak=0.01, weight_decay=0.1, warmup=2, total=6, max_norm=1.0),
        # AdamW without decay or clipping, no warm-up, a large learning rate.
        dict(kind="adamw", peak=0.3, weight_decay=0.0, warmup=0, total=5, max_norm=0.0),
        # SGD with L2 decay, constant schedule with 1 warm-up step, clipping at 2.5.
        dict(kind="sgd", peak=0.05, weight_decay=0.1, warmup=1, total=4, max_norm=2.5),
    ]
    for config in configs:
        records = run_optimizer(shapes=shapes, gradients=gradients, steps=steps, initial=initial, **config)
        out["runs"].append({**config, "steps": records})
        print(f"{config['kind']} lr {config['peak']}: {steps} steps")
    write("optimizers.json", out)


# ---------------------------------------------------------------- schedules

def make_schedules():
    cases = []
    makers = {
        "constant": lambda opt, w, t: get_constant_schedule_with_warmup(opt, num_warmup_steps=w),
        "linear": lambda opt, w, t: get_linear_schedule_with_warmup(opt, num_warmup_steps=w, num_training_steps=t),
        "cosine": lambda opt, w, t: get_cosine_schedule_with_warmup(opt, num_warmup_steps=w, num_training_steps=t),
    }
    # (total steps, warm-up as steps or ratio); ratio 0.14 of 50 is 7.000000000000001 in Double -> ceil 8.
    warmups = [(10, ("steps", 0)), (10, ("steps", 3)), (25, ("ratio", 0.1)), (50, ("ratio", 0.14)),
               (7, ("ratio", 0.15)), (1, ("steps", 0)), (5, ("steps", 8))]
    for kind, make in makers.items():
        for total, (mode, value) in warmups:
            warmup_steps = TrainingArguments.get_warmup_steps(types.SimpleNamespace(warmup_steps=value), total) \
                if mode == "ratio" else value
            param = torch.nn.Parameter(torch.zeros(1))
            opt = torch.optim.SGD([param], lr=2e-4)
            sched = make(opt, warmup_steps, total)
            lrs = []
            for _ in range(total + 3):
                lrs.append(opt.param_groups[0]["lr"])
                opt.step()
                sched.step()
            cases.append({"kind": kind, "peak": 2e-4, "total_steps": total, "warmup": {mode: value},
                          "warmup_steps": warmup_steps, "learning_rates": lrs})
    write("schedules.json", {"description": "transformers 5.23 schedules through torch LambdaLR", "cases": cases})


if __name__ == "__main__":
    make_infonce()
    make_reranker()
    make_optimizers()
    make_schedules()
