"""numpy reference for kindling's kNN distance benchmark: the same squared-L2 distances of
CIFAR-10 queries (first N of batch 5) against training images (first M of batches 1-4), in the
same chunks of queries, float32, pixels scaled to [0, 1]. Prints one JSON line."""
import json, os, sys, time
import numpy as np

def load(path):
    raw = np.fromfile(path, dtype=np.uint8).reshape(-1, 3073)
    return raw[:, 1:].astype(np.float32) / 255.0

data, n_train, n_query, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
train = np.concatenate([load(os.path.join(data, f"data_batch_{i}.bin")) for i in range(1, 5)])[:n_train]
query = load(os.path.join(data, "data_batch_5.bin"))[:n_query]
t_sq = (train ** 2).sum(1)
best = float("inf")
for _ in range(2):
    t0 = time.perf_counter()
    checksum = 0.0
    for s in range(0, n_query, chunk):
        q = query[s:s + chunk]
        d = (q ** 2).sum(1)[:, None] - 2.0 * (q @ train.T) + t_sq[None, :]
        checksum += float(d[:, 0].sum())
    best = min(best, time.perf_counter() - t0)
try:
    import threadpoolctl
    info = threadpoolctl.threadpool_info()
    blas = [f"{i.get('internal_api')} {i.get('version')} {i.get('architecture', '')} kernels "
            f"({i.get('num_threads')} threads)" for i in info]
except ImportError:
    blas = []
print(json.dumps({"seconds": best, "checksum": checksum, "blas": blas, "numpy": np.__version__}))
