#!/usr/bin/env python3
"""Scores exported ONNX files with ONNX Runtime on the full official test sets, with the test-time augmentation
the checkpoint recorded reproduced outside the graph (docs/onnx.md), and prints them beside the recorded figures.
A second runtime beside tests/onnx.rs's tract; run by hand, not by the tests:

    pip install onnxruntime numpy
    for f in weights/*.safetensors; do
      cargo run --release --example export -- --weights $f --onnx onnx/$(basename $f .safetensors).onnx; done
    KINDLING_DATA=/path/to/data python3 scripts/onnx-runtime-check.py onnx/*.onnx
    KINDLING_DATA=/path/to/data python3 scripts/onnx-runtime-check.py --time onnx/*.onnx   # ms per image instead

CIFAR-10 is read from $KINDLING_DATA/cifar-10-batches-bin, MNIST from $KINDLING_DATA/mnist, Fashion-MNIST from
$KINDLING_DATA/fashion-mnist or /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist).
"""
import gzip
import json
import os
import sys
import time

import numpy as np
import onnxruntime as ort

ROOT = os.environ.get("KINDLING_DATA", "data")


def cifar10():
    b = np.fromfile(f"{ROOT}/cifar-10-batches-bin/test_batch.bin", np.uint8).reshape(-1, 3073)
    return b[:, 1:].reshape(-1, 3, 32, 32), b[:, 0]


def idx(folders):
    d = next(f for f in folders if os.path.exists(f"{f}/t10k-images-idx3-ubyte.gz"))
    x = np.frombuffer(gzip.open(f"{d}/t10k-images-idx3-ubyte.gz").read()[16:], np.uint8).reshape(-1, 1, 28, 28)
    y = np.frombuffer(gzip.open(f"{d}/t10k-labels-idx1-ubyte.gz").read()[8:], np.uint8)
    return x, y


DATA = {
    "cifar10": cifar10,
    "mnist": lambda: idx([f"{ROOT}/mnist"]),
    "fashion-mnist": lambda: idx([f"{ROOT}/fashion-mnist", "/usr/share/datasets/fashion-mnist"]),
}


def six_views(x):  # x: [N, C, H, W]; as docs/onnx.md
    p = lambda d: np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="reflect")[:, :, 1 - d:1 - d + x.shape[2], 1 - d:1 - d + x.shape[3]]
    views = [x, p(1), p(-1)]
    return [u for v in views for u in (v, v[..., ::-1])], [1 / 4, 1 / 4, 1 / 8, 1 / 8, 1 / 8, 1 / 8]


def scores(s, x, tta):
    """Class scores whose arg-max is the prediction, as kindling's `Tta::scores`."""
    run = lambda name, v: s.run([name], {"image": np.ascontiguousarray(v)})[0]
    if tta == "flip":
        return (run("probabilities", x) + run("probabilities", x[..., ::-1])) / 2
    if tta == "flip-translate":
        views, w = six_views(x)
        return sum(wk * run("logits", v) for v, wk in zip(views, w))
    return run("logits", x)


def ms_per_image(s, x):
    """Milliseconds per image as tests/onnx.rs's `time_per_image` measures them: the best of 5 runs (after a
    warm-up) over 32 images one at a time, and over one batch of 256."""
    def best(f, images):
        f()
        return min(timed(f) for _ in range(5)) / images * 1e3

    def timed(f):
        start = time.perf_counter()
        f()
        return time.perf_counter() - start

    one = lambda: [s.run(["logits"], {"image": x[i:i + 1]}) for i in range(32)]
    return best(one, 32), best(lambda: s.run(["logits"], {"image": x[:256]}), 256)


timing = sys.argv[1:2] == ["--time"]
for path in sys.argv[1 + timing:]:
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    meta = s.get_modelmeta().custom_metadata_map
    x, y = DATA[meta["dataset"]]()
    x = x.astype(np.float32) / 255
    if timing:
        b1, b256 = ms_per_image(s, x)
        print(f"{os.path.basename(path)}: {b1:.3f} ms per image one at a time, {b256:.3f} ms in batches of 256", flush=True)
        continue
    records = [json.loads(meta["evaluation"])] + json.loads(meta.get("extra_evaluations", "[]"))
    line = [f"{os.path.basename(path)}:"]
    for tta in dict.fromkeys(["none", meta["tta"]]):
        start = time.time()
        pred = np.concatenate([scores(s, x[i:i + 500], tta).argmax(1) for i in range(0, len(x), 500)])
        line.append(f"{100 * (pred == y).mean():.2f}% with --tta {tta} ({time.time() - start:.0f} s);")
    line.append("recorded: " + ", ".join(f"{100 * r['accuracy']:.2f}% ({r['split']}, --tta {r['tta']})" for r in records))
    print(" ".join(line), flush=True)
