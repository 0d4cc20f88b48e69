"""PyTorch reference for kindling's speed benchmark: the same architectures, batch, optimizer
(AdamW, lr 1e-3, weight decay 0.01) and timing (median of N steps after 3 warm-ups), on random
CIFAR-sized batches. `pip install torch`. Prints one JSON line like `examples/bench.rs --json`.

usage: pytorch_reference.py --model linear|mlp|cnn|kindling-cnn [--batch-size 128] [--steps 10]
       [--infer] [--threads N]"""
import argparse, json, resource, statistics, time
import torch
import torch.nn as nn

p = argparse.ArgumentParser()
p.add_argument("--model", default="cnn")
p.add_argument("--batch-size", type=int, default=128)
p.add_argument("--steps", type=int, default=10)
p.add_argument("--infer", action="store_true")
p.add_argument("--threads", type=int, default=2)
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
else:
    raise SystemExit(f"unknown model {a.model}")

opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.01)
x = torch.randn(a.batch_size, 3, 32, 32)
y = torch.arange(a.batch_size) % 10
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
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        loss.item()
    if i >= 3:
        times.append((time.perf_counter() - t0) * 1e3)
med = statistics.median(times)
print(json.dumps({"model": a.model, "mode": "inference" if a.infer else "train", "batch_size": a.batch_size,
                  "median_ms": med, "images_per_s": a.batch_size / med * 1e3,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "torch": torch.__version__, "threads": torch.get_num_threads()}))
