"""airbench94's whole run in PyTorch on the CPU, the reference that benches/whole_run.sh times against
kindling's `train --recipe airbench94`. Written from the paper (Keller Jordan, "94% on CIFAR-10 in 3.29
seconds on a single GPU", arXiv 2404.00498) and from kindling's recipe (src/presets/airbench94.rs), which
lists every setting; the table below repeats them with their units. Float32, `pip install torch numpy`
(no torchvision: the CIFAR-10 binary batches are read with numpy).

What it does, in order: reads data_batch_1..5 and test_batch.bin from $KINDLING_DATA/cifar-10-batches-bin
(or --data-dir); fits the whitening filters on the first 5,000 training images; trains 9.9 epochs
(476 steps of 1,024 images; kindling rounds up to 10 epochs, 480 steps); scores the test set with the six
views. `seconds_train` is the whitening fit and the training loop (the paper's timer: no data loading, no
test pass); `seconds_total` runs from the script's start, `import torch` included, to the end of the test
pass. Progress goes to stderr, one JSON line to stdout:
  {"seconds_train", "seconds_total", "test_accuracy", "test_accuracy_plain", "epochs", "steps", "threads",
   "peak_rss_mb", "layout", "torch", ...}

usage: airbench94_torch.py [--threads N] [--epochs 9.9] [--train-size N] [--test-size N] [--seed 0]
       [--channels-last] [--data-dir DIR]"""
import time

T0 = time.perf_counter()
import argparse, json, math, os, resource, sys  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

# airbench94's hyper-parameters. Rates are per 1,024 examples of a summed loss, as in the paper.
HYP = dict(
    batch_size=1024,  # examples per step; the last, smaller batch of an epoch is dropped
    lr=11.5,  # per 1,024 examples of summed loss (divided by the kilostep scale below)
    weight_decay=0.0153,  # per 1,024 examples; the same shrink per step for every group
    momentum=0.85,  # Nesterov
    bias_scaler=64.0,  # batch-norm shifts learn at 64x the rate
    label_smoothing=0.2,
    whiten_bias_epochs=3,  # the whitening layer's bias trains for this many epochs, then stays
    schedule=(0.2, 0.23, 0.07),  # triangle: 0.2x at step 0, 1x at 23% of the steps, 0.07x at the end
    lookahead_every=5,  # steps between lookahead updates
    lookahead_base=0.95**5,  # the average's decay at the last step, reached as (t/T)^3
    translate=2,  # pixels of random translation, reflect padding
    widths=(64, 256, 256),  # the three conv groups
    whiten_eps=5e-4,  # added to the patch moment's eigenvalues
    whiten_images=5000,  # the first training images whose 2x2 patches give the whitening filters
    bn_eps=1e-12,
    bn_momentum=0.4,  # PyTorch's convention: running averages keep 0.6 of the old value per step
    head_scale=1 / 9,
)

p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch.set_num_threads (default: all cores)")
p.add_argument("--epochs", type=float, default=9.9, help="epochs, fractional as the paper's 9.9")
p.add_argument("--train-size", type=int, default=None, help="train on the first N training images (smoke tests)")
p.add_argument("--test-size", type=int, default=None, help="score the first N test images (smoke tests)")
p.add_argument("--seed", type=int, default=0, help="initialization, shuffling and augmentation")
p.add_argument("--channels-last", action="store_true", help="NHWC tensors (torch.channels_last)")
p.add_argument("--data-dir", default=None, help="the folder of the binary batches "
               "(default $KINDLING_DATA/cifar-10-batches-bin)")
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)
gen = torch.Generator().manual_seed(a.seed)
layout = torch.channels_last if a.channels_last else torch.contiguous_format


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# --- data ------------------------------------------------------------------------------------------
def read_batches(folder, names):
    """uint8 images [N, 3, 32, 32] and int64 labels [N] of CIFAR-10 binary files (3,073-byte records:
    a label byte, then the red, green and blue 32x32 planes)."""
    recs = []
    for n in names:
        path = os.path.join(folder, n)
        if not os.path.exists(path):
            raise SystemExit(f"{path} not found: set KINDLING_DATA to the folder holding cifar-10-batches-bin/ "
                             "or pass --data-dir")
        recs.append(np.fromfile(path, dtype=np.uint8).reshape(-1, 3073))
    recs = np.concatenate(recs)
    return (torch.from_numpy(np.ascontiguousarray(recs[:, 1:]).reshape(-1, 3, 32, 32)),
            torch.from_numpy(recs[:, 0].astype(np.int64)))


folder = a.data_dir or os.path.join(os.environ.get("KINDLING_DATA", "data"), "cifar-10-batches-bin")
train_u8, train_y = read_batches(folder, [f"data_batch_{i}.bin" for i in range(1, 6)])
test_u8, test_y = read_batches(folder, ["test_batch.bin"])
train_u8, train_y = train_u8[:a.train_size], train_y[:a.train_size]
test_u8, test_y = test_u8[:a.test_size], test_y[:a.test_size]
n = len(train_u8)
steps_per_epoch = n // HYP["batch_size"]
if steps_per_epoch == 0:
    raise SystemExit(f"--train-size {n} holds no full batch of {HYP['batch_size']}: give at least that many")
total_steps = math.ceil(steps_per_epoch * a.epochs)

# Per-channel statistics of the training images (u8 / 255), as kindling's recipe normalizes.
# Summed in chunks: a float64 copy of all 50,000 images would add 1.2 GB to the peak memory.
sums = torch.zeros(2, 3, dtype=torch.float64)
for s in range(0, n, 5000):
    chunk = train_u8[s:s + 5000].double().div_(255)
    sums += torch.stack([chunk.sum((0, 2, 3)), chunk.square().sum((0, 2, 3))])
count = n * 32 * 32
MEAN = (sums[0] / count).float().view(1, 3, 1, 1)
STD = ((sums[1] - sums[0] ** 2 / count) / (count - 1)).sqrt().float().view(1, 3, 1, 1)


def normalize(u8):
    return (u8.float().div_(255) - MEAN).div_(STD)


def to_layout(x):
    return x.contiguous(memory_format=layout)


def train_batch(idx, flip, pad):
    """The normalized batch of images `idx`, mirrored where `flip`, translated by up to `pad` pixels
    in each direction (each image its own offset) with the border reflected in."""
    x = normalize(train_u8[idx])  # [B, 3, 32, 32]
    x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
    if pad == 0:
        return to_layout(x)
    x = F.pad(x, (pad,) * 4, mode="reflect")  # [B, 3, 36, 36]
    dy = torch.randint(0, 2 * pad + 1, (len(idx),), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (len(idx),), generator=gen)
    out = torch.empty(len(idx), 3, 32, 32)
    for oy in range(2 * pad + 1):
        for ox in range(2 * pad + 1):
            m = (dy == oy) & (dx == ox)
            if m.any():
                out[m] = x[m, :, oy:oy + 32, ox:ox + 32]
    return to_layout(out)


# --- network ---------------------------------------------------------------------------------------
class Mul(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.s = s

    def forward(self, x):
        return x * self.s


def conv(cin, cout):
    """3x3, no bias; the first `cin` filters are identities (dirac), the rest PyTorch's default init."""
    c = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
    with torch.no_grad():
        nn.init.dirac_(c.weight[:cin])
    return c


def norm(c):
    """Batch norm with a fixed scale of 1 and a trained shift."""
    b = nn.BatchNorm2d(c, eps=HYP["bn_eps"], momentum=HYP["bn_momentum"])
    b.weight.requires_grad_(False)
    return b


def group(cin, cout):
    return [conv(cin, cout), nn.MaxPool2d(2), norm(cout), nn.GELU(), conv(cout, cout), norm(cout), nn.GELU()]


w1, w2, w3 = HYP["widths"]
whiten = nn.Conv2d(3, 24, 2, padding=0, bias=True)  # weights fixed below; bias: PyTorch's default init
whiten.weight.requires_grad_(False)
net = nn.Sequential(whiten, nn.GELU(),                             # [B, 24, 31, 31]
                    *group(24, w1),                                # [B, 64, 15, 15]
                    *group(w1, w2),                                # [B, 256, 7, 7]
                    *group(w2, w3),                                # [B, 256, 3, 3]
                    nn.MaxPool2d(3), nn.Flatten(),                 # [B, 256]
                    nn.Linear(w3, 10, bias=False), Mul(HYP["head_scale"]))  # [B, 10]


def fit_whitening(layer, u8, eps):
    """Filters v_j / sqrt(l_j + eps) and their negatives from the eigenpairs (l_j, v_j) of the
    uncentered second moment of the images' 2x2 patches (flattened channel, row, column), in order
    of decreasing l_j."""
    c, k = u8.shape[1], layer.kernel_size[0]
    d = c * k * k
    moment, count = torch.zeros(d, d, dtype=torch.float64), 0
    for s in range(0, len(u8), 500):
        x = normalize(u8[s:s + 500]).double()
        patches = x.unfold(2, k, 1).unfold(3, k, 1)  # [b, C, 31, 31, k, k]
        patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, d)
        moment += patches.T @ patches
        count += len(patches)
    values, vectors = torch.linalg.eigh(moment / count)  # ascending
    values, vectors = values.flip(0), vectors.flip(1)
    filters = (vectors.T / (values.clamp(min=0) + eps).sqrt().view(-1, 1)).view(d, c, k, k)
    with torch.no_grad():
        layer.weight.copy_(torch.cat([filters, -filters]).float())


# --- training --------------------------------------------------------------------------------------
t_train = time.perf_counter()
fit_whitening(whiten, train_u8[:HYP["whiten_images"]], HYP["whiten_eps"])
net = net.to(memory_format=layout)

momentum, bs = HYP["momentum"], HYP["batch_size"]
kilostep = 1024 * (1 + 1 / (1 - momentum))
lr = HYP["lr"] / kilostep  # per example of the summed loss
wd = HYP["weight_decay"] * bs / kilostep  # shrink per step, at the schedule's 1x
lr_bias = lr * HYP["bias_scaler"]
norm_biases = [m.bias for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
others = [q for q in net.parameters() if q.requires_grad and all(q is not b for b in norm_biases)]
opt = torch.optim.SGD([dict(params=norm_biases, lr=lr_bias, weight_decay=wd / lr_bias),
                       dict(params=others, lr=lr, weight_decay=wd / lr)], momentum=momentum, nesterov=True)
for g in opt.param_groups:
    g["base_lr"] = g["lr"]

start, peak, end = HYP["schedule"]
peak_step = int(total_steps * peak)


def schedule(step):
    """The learning rate's multiple at 0-based `step` of `total_steps`."""
    if step < peak_step:
        return start + (1 - start) * step / peak_step
    return 1 + (end - 1) * (step - peak_step) / max(total_steps - peak_step, 1)


# Lookahead: every floating-point tensor of the state (batch-norm running statistics included).
average = {k: v.detach().clone() for k, v in net.state_dict().items() if v.is_floating_point()}


@torch.no_grad()
def lookahead(decay):
    state = net.state_dict()
    for k, avg in average.items():
        avg.lerp_(state[k], 1 - decay)
        state[k].copy_(avg)


# Alternating flip: a coin per image fixed for the run, inverted in odd epochs.
flip_coin = torch.rand(n, generator=gen) < 0.5
step = 0
for epoch in range(math.ceil(a.epochs)):
    t_epoch, loss_sum, correct, seen = time.perf_counter(), 0.0, 0, 0
    whiten.bias.requires_grad_(epoch < HYP["whiten_bias_epochs"])
    net.train()
    order = torch.randperm(n, generator=gen)
    for b in range(steps_per_epoch):
        if step >= total_steps:
            break
        idx = order[b * bs:(b + 1) * bs]
        xs, ys = train_batch(idx, flip_coin[idx] ^ (epoch % 2 == 1), HYP["translate"]), train_y[idx]
        for g in opt.param_groups:
            g["lr"] = g["base_lr"] * schedule(step)
        out = net(xs)
        loss = F.cross_entropy(out, ys, label_smoothing=HYP["label_smoothing"], reduction="sum")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % HYP["lookahead_every"] == 0:
            lookahead(HYP["lookahead_base"] * (step / total_steps) ** 3)
        if step == total_steps:
            lookahead(1.0)
        loss_sum += loss.item()
        correct += (out.argmax(1) == ys).sum().item()
        seen += len(idx)
    log(f"epoch {epoch + 1}: {seen // bs} steps in {time.perf_counter() - t_epoch:.1f} s, "
        f"loss {loss_sum / max(seen, 1):.4f}, train accuracy {100 * correct / max(seen, 1):.2f}%")
seconds_train = time.perf_counter() - t_train


# --- test: six views -------------------------------------------------------------------------------
@torch.no_grad()
def scores(x):
    """(six-view logits, plain logits): weight 1/4 each for the image and its mirror image, 1/8 each
    for the image moved one pixel down-right and one up-left (border reflected in) and their mirrors."""
    def pair(v):
        return 0.5 * (net(to_layout(v)) + net(to_layout(v.flip(-1))))
    plain = net(to_layout(x))
    centre = 0.5 * (plain + net(to_layout(x.flip(-1))))
    padded = F.pad(x, (1,) * 4, mode="reflect")
    moved = 0.5 * (pair(padded[:, :, 0:32, 0:32]) + pair(padded[:, :, 2:34, 2:34]))
    return 0.5 * centre + 0.5 * moved, plain


net.eval()
correct = correct_plain = 0
for s in range(0, len(test_u8), 1000):
    tta, plain = scores(normalize(test_u8[s:s + 1000]))
    correct += (tta.argmax(1) == test_y[s:s + 1000]).sum().item()
    correct_plain += (plain.argmax(1) == test_y[s:s + 1000]).sum().item()
print(json.dumps({
    "seconds_train": seconds_train, "seconds_total": time.perf_counter() - T0,
    "test_accuracy": correct / len(test_u8), "test_accuracy_plain": correct_plain / len(test_u8),
    "test_images": len(test_u8), "train_images": n, "epochs": a.epochs, "steps": total_steps, "seed": a.seed,
    "threads": torch.get_num_threads(), "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "layout": "channels_last" if a.channels_last else "nchw", "torch": torch.__version__}))
