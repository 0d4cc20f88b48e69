import torch
torch.set_default_dtype(torch.float64)
def run(make, steps=4):
    p = torch.tensor([[0.5, -1.0, 0.25], [1.5, 2.0, -0.75]], requires_grad=True)
    t = torch.tensor([[1.0, 0.0, -1.0], [0.5, -0.5, 2.0]])
    c = torch.tensor([[1.0, 2.0, 0.5], [3.0, 0.25, 1.0]])
    opt = make([p])
    for _ in range(steps):
        opt.zero_grad()
        loss = (c * (p - t) ** 4).sum() + (p.sum()) ** 2
        loss.backward()
        opt.step()
    return p.detach().flatten().tolist()
cfgs = {
 "sgd": lambda ps: torch.optim.SGD(ps, lr=0.01),
 "sgd_wd": lambda ps: torch.optim.SGD(ps, lr=0.01, weight_decay=0.1),
 "momentum": lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9),
 "nesterov": lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9, nesterov=True),
 "rmsprop": lambda ps: torch.optim.RMSprop(ps, lr=0.01, alpha=0.99, eps=1e-8),
 "adam": lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1),
 "adamw": lambda ps: torch.optim.AdamW(ps, lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1),
}
for k, f in cfgs.items():
    print(k, "[" + ", ".join(repr(v) for v in run(f)) + "]")
