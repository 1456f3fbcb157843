"""Trains the learned LSBV model of the Strata codec and exports it to ONNX.

Input: the samples `strata train-data` writes (`<volume>.features.npy`, uint8 rows of
32 features computed by the codec's own feature code, and `<volume>.bits.npy`, the coded
bits). Output: an ONNX graph of exact integer operations (see docs/format.md):

    h      = clip((features @ W1 + B1) / 128, 0, 127)      MatMulInteger, Add, Div, Clip, Cast
    logits = h @ W2 + B2                                     MatMulInteger, Add

with int8 weights in -127..=127 and int32 biases; `logits` is in units of 2^-11 nats.
Training is quantisation-aware from the first step: the forward pass is the integer
network itself (weights rounded, activations floored and clipped, all exact in float64),
gradients pass the rounding straight through. The network is trained as a correction of
the logit the codec already has without it (the adaptive counters mixed, recorded by
`strata train-data` as `<volume>.probs.npy`). The loss is the cross-entropy in bits per
coded bit, the unit of the benchmark. One volume is held out and never trained on.

numpy only: the network is small (32-64-1), and PyPI's PyTorch for Linux brings the
CUDA libraries (gigabytes) with it.
"""

import argparse
import glob
import hashlib
import json
import os
import sys
import time

import numpy as np

FEATURES = 32
HIDDEN = int(os.environ.get("STRATA_TRAIN_HIDDEN", "64"))
ACT_DIV = 128  # h = floor(acc1 / 128)
LOGIT_SHIFT = 11
LN2 = np.log(2.0)


def load(data_dir, names=None):
    out = {}
    for path in sorted(glob.glob(os.path.join(data_dir, "*.features.npy"))):
        name = os.path.basename(path)[: -len(".features.npy")]
        if names is not None and name not in names:
            continue
        x = np.load(path)
        y = np.load(os.path.join(data_dir, name + ".bits.npy"))
        if x.shape != (len(y), FEATURES):
            sys.exit(f"{path}: shape {x.shape} does not match {len(y)} bits")
        probs = os.path.join(data_dir, name + ".probs.npy")
        p = np.load(probs) if os.path.exists(probs) else None
        out[name] = (x, y, p)
    return out


class Net:
    """Latent float parameters in integer units; forward = the integer network."""

    def __init__(self, rng):
        self.w1 = rng.normal(0, 6.0, (FEATURES, HIDDEN))
        self.b1 = rng.normal(0, 1.0, HIDDEN)  # units of 128 (one step of h)
        self.w2 = rng.normal(0, 1.0, (HIDDEN, 1))  # starts as a small correction
        self.b2 = np.zeros(1)  # units of 2^11 (one nat)

    def params(self):
        return [self.w1, self.b1, self.w2, self.b2]

    def quantised(self):
        w1 = np.clip(np.round(self.w1), -127, 127)
        b1 = np.round(self.b1 * ACT_DIV)
        w2 = np.clip(np.round(self.w2), -127, 127)
        b2 = np.round(self.b2 * (1 << LOGIT_SHIFT))
        return w1, b1, w2, b2

    def forward(self, x):
        w1, b1, w2, b2 = self.quantised()
        acc1 = x @ w1 + b1
        h = np.clip(np.floor(acc1 / ACT_DIV), 0, 127)
        acc2 = h @ w2 + b2
        return acc1, h, acc2[:, 0]

    def loss_grad(self, x, y, base):
        acc1, h, acc2 = self.forward(x)
        z = base + acc2 / (1 << LOGIT_SHIFT)
        # bits = -log2 p(y); dz = (sigmoid(z) - y) / ln 2
        p = 1.0 / (1.0 + np.exp(-z))
        bits = (np.logaddexp(0, -z) * y + np.logaddexp(0, z) * (1 - y)) / LN2
        n = len(y)
        dz = (p - y) / LN2 / n
        dacc2 = dz / (1 << LOGIT_SHIFT)
        gw2 = h.T @ dacc2[:, None]
        gb2 = np.array([dacc2.sum() * (1 << LOGIT_SHIFT)])
        dh = dacc2[:, None] * np.clip(np.round(self.w2), -127, 127).T
        inside = (acc1 > 0) & (acc1 < 127 * ACT_DIV)
        dacc1 = dh * inside / ACT_DIV
        gw1 = x.T @ dacc1
        gb1 = dacc1.sum(0) * ACT_DIV
        return bits.mean(), [gw1, gb1, gw2, gb2]

    def bits(self, x, y, base, batch=1 << 18):
        total = 0.0
        for i in range(0, len(y), batch):
            _, _, acc2 = self.forward(x[i : i + batch].astype(np.float64))
            z = base[i : i + batch] + acc2 / (1 << LOGIT_SHIFT)
            yy = y[i : i + batch]
            total += ((np.logaddexp(0, -z) * yy + np.logaddexp(0, z) * (1 - yy)) / LN2).sum()
        return total / max(len(y), 1)


def base_logit(p16):
    """The recording model's probabilities as logits (nats): what the network corrects."""
    p1 = p16.astype(np.float64) / 65536.0
    return np.log(p1 / (1 - p1))


def reference_bits(p16, y):
    """Cost in bits per bit of the recording model's own probabilities."""
    p1 = p16.astype(np.float64) / 65536.0
    return float(-(y * np.log2(p1) + (1 - y) * np.log2(1 - p1)).mean())


def entropy_bits(y):
    p = y.mean()
    if p <= 0 or p >= 1:
        return 0.0
    return float(-(p * np.log2(p) + (1 - p) * np.log2(1 - p)))


def export(net, path):
    import onnx
    from onnx import TensorProto as T
    from onnx import helper as h
    from onnx import numpy_helper as nh

    w1, b1, w2, b2 = net.quantised()
    inits = [
        nh.from_array(w1.astype(np.int8), "W1"),
        nh.from_array(b1.astype(np.int32), "B1"),
        nh.from_array(w2.astype(np.int8), "W2"),
        nh.from_array(b2.astype(np.int32), "B2"),
        nh.from_array(np.array(ACT_DIV, np.int32), "ACT_DIV"),
        nh.from_array(np.array(0, np.int32), "ZERO"),
        nh.from_array(np.array(127, np.int32), "ACT_MAX"),
    ]
    nodes = [
        h.make_node("MatMulInteger", ["features", "W1"], ["acc1"]),
        h.make_node("Add", ["acc1", "B1"], ["pre1"]),
        h.make_node("Div", ["pre1", "ACT_DIV"], ["scaled1"]),
        h.make_node("Clip", ["scaled1", "ZERO", "ACT_MAX"], ["clipped1"]),
        h.make_node("Cast", ["clipped1"], ["hidden"], to=T.UINT8),
        h.make_node("MatMulInteger", ["hidden", "W2"], ["acc2"]),
        h.make_node("Add", ["acc2", "B2"], ["logits"]),
    ]
    graph = h.make_graph(
        nodes,
        "strata_lsbv",
        [h.make_tensor_value_info("features", T.UINT8, ["rows", FEATURES])],
        [h.make_tensor_value_info("logits", T.INT32, ["rows", 1])],
        inits,
    )
    model = h.make_model(
        graph, opset_imports=[h.make_opsetid("", 17)], producer_name="strata models/train"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    data = model.SerializeToString()
    with open(path, "wb") as f:
        f.write(data)
    return hashlib.sha256(data).hexdigest()


def integer_reference(net, x):
    """The exported graph's output, in exact integer arithmetic."""
    w1, b1, w2, b2 = (a.astype(np.int64) for a in net.quantised())
    acc1 = x.astype(np.int64) @ w1 + b1
    hdn = np.clip(np.trunc(acc1 / ACT_DIV), 0, 127).astype(np.int64)
    return (hdn @ w2 + b2).astype(np.int32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="folder written by strata train-data")
    ap.add_argument("--out", required=True, help="ONNX file to write")
    ap.add_argument(
        "--holdout", default="ct_lung2", help="volume never trained on ('' = none)"
    )
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=8192)
    ap.add_argument("--lr", type=float, default=0.08)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--report", help="write per-volume figures as JSON here")
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    data = load(args.data)
    if not data:
        sys.exit(f"no samples in {args.data}: run strata train-data first")
    if args.holdout and args.holdout not in data:
        sys.exit(f"held-out volume {args.holdout!r} has no samples in {args.data}")
    train = [k for k in data if k != args.holdout]
    if not train:
        sys.exit("nothing to train on besides the held-out volume")
    x = np.concatenate([data[k][0] for k in train])
    y = np.concatenate([data[k][1] for k in train]).astype(np.float64)
    if any(data[k][2] is None for k in data):
        sys.exit(f"{args.data} lacks the .probs.npy files of a current strata train-data")
    base = np.concatenate([base_logit(data[k][2]) for k in train])
    # Every volume weighs the same, whatever its size.
    sizes = np.array([len(data[k][1]) for k in train])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    print(f"training on {len(train)} volumes ({len(y)} samples), held out: {args.holdout}")

    net = Net(rng)
    m = [np.zeros_like(p) for p in net.params()]
    v = [np.zeros_like(p) for p in net.params()]
    b1_, b2_, eps = 0.9, 0.999, 1e-8
    start = time.time()
    running = None
    for step in range(1, args.steps + 1):
        vol = rng.integers(0, len(train), args.batch)
        idx = starts[vol] + (rng.random(args.batch) * sizes[vol]).astype(np.int64)
        loss, grads = net.loss_grad(x[idx].astype(np.float64), y[idx], base[idx])
        lr = args.lr * (0.1 ** (step / args.steps))
        for p, g, mi, vi in zip(net.params(), grads, m, v):
            mi *= b1_
            mi += (1 - b1_) * g
            vi *= b2_
            vi += (1 - b2_) * g * g
            mh = mi / (1 - b1_**step)
            vh = vi / (1 - b2_**step)
            p -= lr * mh / (np.sqrt(vh) + eps)
        running = loss if running is None else 0.98 * running + 0.02 * loss
        if step % max(args.steps // 20, 1) == 0 or step == args.steps:
            print(f"step {step:6d}  {running:.4f} bits per coded bit  ({time.time() - start:.0f} s)")

    report = {}
    for name, (xs, ys, ps) in data.items():
        ys = ys.astype(np.float64)
        report[name] = {
            "samples": int(len(ys)),
            "network_bits_per_bit": round(net.bits(xs, ys, base_logit(ps)), 4),
            "builtin_bits_per_bit": round(reference_bits(ps, ys), 4),
            "order0_bits_per_bit": round(entropy_bits(ys), 4),
            "held_out": name == args.holdout,
        }
        r = report[name]
        tag = "  (held out)" if r["held_out"] else ""
        print(
            f"{name:24s} with network {r['network_bits_per_bit']:.4f}  without "
            f"{r['builtin_bits_per_bit']:.4f}  order-0 {r['order0_bits_per_bit']:.4f} "
            f"bits per coded bit{tag}"
        )
    digest = export(net, args.out)
    print(f"wrote {args.out} sha256 {digest}")
    try:
        import onnxruntime as ort

        probe = x[:50000]
        want = integer_reference(net, probe)
        for threads in (1, 2):
            so = ort.SessionOptions()
            so.intra_op_num_threads = threads
            s = ort.InferenceSession(args.out, so, providers=["CPUExecutionProvider"])
            got = s.run(None, {"features": probe})[0]
            if not np.array_equal(got, want):
                sys.exit("ONNX Runtime output differs from the integer reference")
        print("ONNX Runtime output equals the integer reference (1 and 2 threads)")
    except ImportError:
        print("onnxruntime not installed: skipped the reference check")
    if args.report:
        with open(args.report, "w") as f:
            json.dump({"sha256": digest, "volumes": report}, f, indent=1)


if __name__ == "__main__":
    main()
