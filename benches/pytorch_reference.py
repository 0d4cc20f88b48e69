"""PyTorch reference for kindling's speed benchmark: the same architectures, batch, optimizer
(AdamW, lr 1e-3, weight decay 0.01; airbench94: its SGD with Nesterov momentum, parameter groups
and label smoothing) and timing (median of N steps after 3 warm-ups), on random CIFAR-sized
batches. `pip install torch`. Prints one JSON line like `examples/bench.rs --json`.

--layout channels_last stores the network and the batch in NHWC (`torch.channels_last`), which a
PyTorch user picks for convolutions on the CPU; compare.sh runs both layouts and takes the faster.

usage: pytorch_reference.py --model linear|mlp|cnn|kindling-cnn|airbench94 [--batch-size 128]
       [--steps 10] [--infer] [--threads N] [--layout nchw|channels_last]"""
import argparse, json, resource, statistics, time
import torch
import torch.nn as nn

p = argparse.ArgumentParser()
p.add_argument("--model", default="cnn")
p.add_argument("--batch-size", type=int, default=128)
p.add_argument("--steps", type=int, default=10)
p.add_argument("--infer", action="store_true")
p.add_argument("--threads", type=int, default=2)
p.add_argument("--layout", choices=["nchw", "channels_last"], default="nchw")
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)

def block(cin, cout, k, bn=False):
    layers = [nn.Conv2d(cin, cout, k, padding=k // 2)]
    if bn:
        layers.append(nn.BatchNorm2d(cout))
    return layers + [nn.ReLU(), nn.MaxPool2d(2)]

if a.model == "linear":
    net = nn.Sequential(nn.Flatten(), nn.Linear(3072, 10))
elif a.model == "mlp":
    net = nn.Sequential(nn.Flatten(), nn.Linear(3072, 512), nn.ReLU(), nn.Linear(512, 10))
elif a.model == "cnn":
    net = nn.Sequential(*block(3, 64, 5), *block(64, 128, 5), *block(128, 256, 3), nn.Flatten(),
                        nn.Linear(4096, 256), nn.ReLU(), nn.Linear(256, 10))
elif a.model == "kindling-cnn":  # kindling's default CIFAR-10 CNN: stages 64-128-256 of two 3x3 convs, batch norm
    def stage(cin, cout):  # conv, BN, ReLU, pool; conv, BN, ReLU at the pooled size
        return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]
    net = nn.Sequential(*stage(3, 64), *stage(64, 128), *stage(128, 256), nn.Flatten(), nn.Linear(4096, 10))
elif a.model == "airbench94":  # train --recipe airbench94 (src/recipe.rs), built from its description
    class Scale(nn.Module):
        def forward(self, x):
            return x / 9

    def conv(cin, cout):  # 3x3, no bias; the first cin filters identities (dirac)
        c = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        with torch.no_grad():
            nn.init.dirac_(c.weight[:cin])
        return c

    def norm(c):  # fixed scale, trained shift, eps 1e-12, running averages keep 0.6
        b = nn.BatchNorm2d(c, eps=1e-12, momentum=0.4)
        b.weight.requires_grad = False
        return b

    def group(cin, cout):
        return [conv(cin, cout), nn.MaxPool2d(2), norm(cout), nn.GELU(), conv(cout, cout), norm(cout), nn.GELU()]

    whiten = nn.Conv2d(3, 24, 2, bias=True)
    whiten.weight.requires_grad = False
    net = nn.Sequential(whiten, nn.GELU(), *group(24, 64), *group(64, 256), *group(256, 256), nn.MaxPool2d(3),
                        nn.Flatten(), nn.Linear(256, 10, bias=False), Scale())
else:
    raise SystemExit(f"unknown model {a.model}")

if a.model == "airbench94":
    # The recipe's optimizer at its peak rate: summed loss, lr 11.5 and weight decay 0.0153 per
    # 1,024 examples; batch-norm shifts at 64x the rate with the same decay per step.
    kilostep = 1024 * (1 + 1 / (1 - 0.85))
    lr, wd = 11.5 / kilostep, 0.0153 * a.batch_size / kilostep
    named = [(n, q) for n, q in net.named_parameters() if q.requires_grad]
    biases = [q for n, q in named if q.dim() == 1 and n != "0.bias"]
    others = [q for n, q in named if not (q.dim() == 1 and n != "0.bias")]
    opt = torch.optim.SGD([dict(params=biases, lr=64 * lr, weight_decay=wd / (64 * lr)),
                           dict(params=others, lr=lr, weight_decay=wd / lr)], momentum=0.85, nesterov=True)
    loss_fn = lambda out, y: nn.functional.cross_entropy(out, y, label_smoothing=0.2, reduction="sum")
else:
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.01)
    loss_fn = nn.functional.cross_entropy
x = torch.randn(a.batch_size, 3, 32, 32)
y = torch.arange(a.batch_size) % 10
if a.layout == "channels_last":
    net = net.to(memory_format=torch.channels_last)
    x = x.contiguous(memory_format=torch.channels_last)
times = []
for i in range(a.steps + 3):
    t0 = time.perf_counter()
    if a.infer:
        net.eval()
        with torch.no_grad():
            net(x).argmax(1)
    else:
        net.train()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        loss.item()
    if i >= 3:
        times.append((time.perf_counter() - t0) * 1e3)
med = statistics.median(times)
print(json.dumps({"model": a.model, "mode": "inference" if a.infer else "train", "batch_size": a.batch_size,
                  "median_ms": med, "images_per_s": a.batch_size / med * 1e3,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "torch": torch.__version__, "threads": torch.get_num_threads(), "layout": a.layout}))
