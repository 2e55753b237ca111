"""A real network: scikit-learn's bundled digits (1797 8x8 images, no download),
an MLP and a small LeNet-style CNN, trained, coarse-pruned with masked
retraining, locally quantized, and evaluated before and after.

``python -m golden.digits -o build/digits [--epochs N] [--sparsity S]`` writes
``mlp.npz`` / ``cnn.npz`` (compressed models), ``mlp_weights.npz`` (the float
weights, the input of ``python -m golden.compress``), ``report.md`` and
``report.json`` (accuracy beside the compression figures, coarse and baseline).

The MLP trains with scikit-learn's ``MLPClassifier``; masked retraining is
``partial_fit`` with the pruning masks re-applied after every epoch.  The CNN
(conv 3x3 8 → max-pool 2 → conv 3x3 16 → max-pool 2 → FC 10, ReLU) is trained by
the small NumPy im2col trainer below: scikit-learn has no convolution, and a
deep-learning framework would be a large dependency for 8x8 images; its
backward pass is checked against finite differences in the tests.
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from golden.cli import (
    ArgumentParser,
    UsageError,
    add_seed,
    atomic_json,
    atomic_write,
    output_dir,
    positive_int,
    run_main,
)
from golden.compression.pipeline import (
    CompressConfig,
    compress_network,
    prune_network,
    write_report,
)
from golden.contract.model import decompress, save
from golden.twins.infer import infer, quantize_input

__all__ = ["load_data", "train_mlp", "mlp_layers", "mlp_retrainer", "float_forward",
           "dequantized", "CNN", "run"]


def load_data(seed=0, test_fraction=0.2):
    """``(x_train, x_test, y_train, y_test)``: pixels scaled to [0, 1], stratified split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    return train_test_split(d.data / 16.0, d.target, test_size=test_fraction,
                            random_state=seed, stratify=d.target)


# --- the MLP (scikit-learn) -------------------------------------------------------

def train_mlp(x, y, hidden=(128, 64), epochs=200, seed=0):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    clf = MLPClassifier(hidden_layer_sizes=hidden, max_iter=epochs, random_state=seed,
                        learning_rate_init=3e-3, alpha=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x, y)
    return clf


def mlp_layers(clf):
    """The MLP as ``[(name, weight (out, in), bias, {})]``."""
    return [(f"fc{i + 1}", w.T.copy(), b.copy(), {})
            for i, (w, b) in enumerate(zip(clf.coefs_, clf.intercepts_))]


def mlp_retrainer(clf, x, y, epochs=10):
    """``retrain(weights, masks)`` for :func:`golden.compress.prune_network`."""
    def retrain(ws, masks):
        for i, (w, m) in enumerate(zip(ws, masks)):
            clf.coefs_[i] = (w * m).T.copy()
        for _ in range(epochs):
            clf.partial_fit(x, y)
            for i, m in enumerate(masks):
                clf.coefs_[i] *= m.T
        return [c.T.copy() for c in clf.coefs_]
    return retrain


def float_forward(layers, x):
    """Class scores of an FC/ReLU network given as ``[(weight, bias)]`` (float)."""
    h = np.asarray(x, dtype=np.float64)
    for i, (w, b) in enumerate(layers):
        h = h @ w.T + b
        if i < len(layers) - 1:
            h = np.maximum(h, 0)
    return h


def dequantized(model):
    """The compressed model's weights and biases as floats ``[(weight, bias)]``."""
    out = []
    for layer in decompress(model):
        w = layer["weight"].astype(np.float64) / (1 << layer["f_w"])
        b = layer["bias"].astype(np.float64) / (1 << (layer["f_in"] + layer["f_w"]))
        out.append((w, b))
    return out


# --- the CNN (NumPy) --------------------------------------------------------------

def _im2col(x, k, pad):
    """``x`` (N, C, H, W) → patches (N, H, W, C*k*k) for a stride-1 'same' conv."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.empty((n, h, w, c, k, k))
    for dy in range(k):
        for dx in range(k):
            cols[:, :, :, :, dy, dx] = xp[:, :, dy:dy + h, dx:dx + w].transpose(0, 2, 3, 1)
    return cols.reshape(n, h, w, c * k * k)


def _col2im(dcols, shape, k, pad):
    n, c, h, w = shape
    dcols = dcols.reshape(n, h, w, c, k, k)
    dxp = np.zeros((n, c, h + 2 * pad, w + 2 * pad))
    for dy in range(k):
        for dx in range(k):
            dxp[:, :, dy:dy + h, dx:dx + w] += dcols[:, :, :, :, dy, dx].transpose(0, 3, 1, 2)
    return dxp[:, :, pad:pad + h, pad:pad + w]


class CNN:
    """conv(1→c1, 3x3, pad 1) ReLU maxpool2 → conv(c1→c2) ReLU maxpool2 → FC(c2*2*2 → 10)."""

    def __init__(self, c1=8, c2=16, seed=0):
        rng = np.random.default_rng(seed)
        self.params = {
            "conv1.weight": rng.normal(0, np.sqrt(2 / 9), (c1, 1, 3, 3)),
            "conv1.bias": np.zeros(c1),
            "conv2.weight": rng.normal(0, np.sqrt(2 / (9 * c1)), (c2, c1, 3, 3)),
            "conv2.bias": np.zeros(c2),
            "fc.weight": rng.normal(0, np.sqrt(2 / (4 * c2)), (10, 4 * c2)),
            "fc.bias": np.zeros(10),
        }
        self.masks = {k: np.ones_like(v) for k, v in self.params.items() if k.endswith("weight")}

    @staticmethod
    def _pool(x):
        n, c, h, w = x.shape
        r = x.reshape(n, c, h // 2, 2, w // 2, 2)
        out = r.max(axis=(3, 5))
        arg = (r == out[:, :, :, None, :, None])
        return out, arg

    def forward(self, x, keep=False):
        p = self.params
        a0 = x.reshape(-1, 1, 8, 8)
        cache = {"a0": a0}
        h = a0
        for name in ("conv1", "conv2"):
            w = p[f"{name}.weight"]
            cols = _im2col(h, 3, 1)
            z = cols @ w.reshape(w.shape[0], -1).T + p[f"{name}.bias"]
            z = z.transpose(0, 3, 1, 2)
            r = np.maximum(z, 0)
            pooled, arg = self._pool(r)
            cache[name] = (h.shape, cols, z, arg)
            h = pooled
        flat = h.reshape(h.shape[0], -1)
        cache["flat"] = flat
        scores = flat @ p["fc.weight"].T + p["fc.bias"]
        return (scores, cache) if keep else scores

    def loss_grads(self, x, y):
        scores, cache = self.forward(x, keep=True)
        s = scores - scores.max(axis=1, keepdims=True)
        prob = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)
        n = x.shape[0]
        loss = -np.log(prob[np.arange(n), y] + 1e-12).mean()
        d = prob
        d[np.arange(n), y] -= 1
        d /= n
        g = {"fc.weight": d.T @ cache["flat"], "fc.bias": d.sum(axis=0)}
        dh = (d @ self.params["fc.weight"]).reshape(n, -1, 2, 2)
        for name in ("conv2", "conv1"):
            shape_in, cols, z, arg = cache[name]
            # un-pool: route the gradient to the max positions
            up = np.repeat(np.repeat(dh, 2, axis=2), 2, axis=3)
            dz = up * arg.reshape(up.shape) * (z > 0)
            w = self.params[f"{name}.weight"]
            dzf = dz.transpose(0, 2, 3, 1).reshape(-1, w.shape[0])
            g[f"{name}.weight"] = (dzf.T @ cols.reshape(-1, cols.shape[-1])).reshape(w.shape)
            g[f"{name}.bias"] = dzf.sum(axis=0)
            dcols = (dzf @ w.reshape(w.shape[0], -1)).reshape(cols.shape)
            dh = _col2im(dcols, shape_in, 3, 1)
        return loss, g

    def train(self, x, y, epochs=20, lr=3e-3, batch=32, seed=0):
        rng = np.random.default_rng(seed)
        m = {k: np.zeros_like(v) for k, v in self.params.items()}
        v = {k: np.zeros_like(val) for k, val in self.params.items()}
        t = 0
        for _ in range(epochs):
            order = rng.permutation(len(x))
            for s in range(0, len(x), batch):
                idx = order[s:s + batch]
                _, g = self.loss_grads(x[idx], y[idx])
                t += 1
                for k in self.params:
                    m[k] = 0.9 * m[k] + 0.1 * g[k]
                    v[k] = 0.999 * v[k] + 0.001 * g[k] ** 2
                    step = lr * (m[k] / (1 - 0.9 ** t)) / (np.sqrt(v[k] / (1 - 0.999 ** t)) + 1e-8)
                    self.params[k] -= step
                    if k in self.masks:
                        self.params[k] *= self.masks[k]
        return self

    def accuracy(self, x, y):
        return float((self.forward(x).argmax(axis=1) == y).mean())

    def layers(self):
        return [(n, self.params[f"{n}.weight"].copy(), self.params[f"{n}.bias"].copy(),
                 {"stride": 1, "padding": 1} if n.startswith("conv") else {})
                for n in ("conv1", "conv2", "fc")]

    def retrainer(self, x, y, epochs=5, seed=0):
        names = ("conv1", "conv2", "fc")

        def retrain(ws, masks):
            for n, w, mk in zip(names, ws, masks):
                self.params[f"{n}.weight"] = w * mk
                self.masks[f"{n}.weight"] = mk.astype(np.float64)
            self.train(x, y, epochs=epochs, seed=seed)
            return [self.params[f"{n}.weight"].copy() for n in names]
        return retrain


# --- the whole story ---------------------------------------------------------------

def run(outdir, *, epochs=200, retrain_epochs=40, cnn_epochs=30, sparsity=0.8, seed=0, steps=5,
        with_cnn=True, log=print):
    """Train, compress and evaluate the digits MLP (and CNN); write the reports."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    xtr, xte, ytr, yte = load_data(seed)
    summary = {}

    t0 = time.perf_counter()
    clf = train_mlp(xtr, ytr, epochs=epochs, seed=seed)
    layers = mlp_layers(clf)
    scores = float_forward([(w, b) for _, w, b, _ in layers], xte)
    acc_float = float((scores.argmax(1) == yte).mean())
    np.savez(out / "mlp_weights.npz", **{f"{n}.{k}": v for n, w, b, _ in layers
                                         for k, v in (("weight", w), ("bias", b))})
    log(f"MLP {[w.shape for _, w, _, _ in layers]} trained: float accuracy {acc_float:.4f} "
        f"({time.perf_counter() - t0:.1f} s)")
    cfg = CompressConfig(block_fc=(4, 4), sparsity_fc=sparsity, bits_fc=4, region_fc=(16, 64),
                         f_in=8, f_act=8, seed=seed, steps=steps)
    pruned = prune_network(layers, cfg, retrain=mlp_retrainer(clf, xtr, ytr, retrain_epochs),
                           progress=lambda s, sp: log(f"  prune step {s}: sparsity "
                                                      + ", ".join(f"{100 * x:.0f} %" for x in sp)))
    acc_pruned = float((float_forward([(p[0], b) for p, (_, _, b, _) in zip(pruned, layers)],
                                      xte).argmax(1) == yte).mean())
    model, report = compress_network(layers, cfg, pruned=pruned)
    save(model, out / "mlp.npz")
    acc_quant = float((float_forward(dequantized(model), xte).argmax(1) == yte).mean())
    acc_fixed = float((infer(model, quantize_input(xte, cfg.f_in)).argmax(1) == yte).mean())
    summary["mlp"] = {"accuracy_float": acc_float, "accuracy_pruned": acc_pruned,
                      "accuracy_quantized": acc_quant, "accuracy_fixed": acc_fixed,
                      "compression": report}
    log(f"MLP compressed: accuracy pruned+retrained {acc_pruned:.4f}, quantized {acc_quant:.4f}, "
        f"fixed-point {acc_fixed:.4f}; r_c {report['total']['r_c']:.1f}x "
        f"(baseline {report['total']['baseline']['r_c']:.1f}x)")

    if with_cnn:
        t0 = time.perf_counter()
        cnn = CNN(seed=seed).train(xtr, ytr, epochs=cnn_epochs, seed=seed)
        c_float = cnn.accuracy(xte, yte)
        log(f"CNN trained: float accuracy {c_float:.4f} ({time.perf_counter() - t0:.1f} s)")
        clayers = cnn.layers()
        # A small CNN keeps less slack than the MLP: half its conv2/FC weights go,
        # conv1 (72 weights) stays dense, and 4-bit codebooks suit its tiny layers.
        ccfg = CompressConfig(block_fc=(2, 4), block_conv=(4, 1, 1, 1),
                              sparsity_fc=min(sparsity, 0.5), sparsity_conv=min(sparsity, 0.5),
                              bits_fc=4, bits_conv=4, f_in=8, f_act=8, seed=seed,
                              skip=("conv1",), steps=steps)
        cpruned = prune_network(clayers, ccfg,
                                retrain=cnn.retrainer(xtr, ytr, max(1, cnn_epochs // steps), seed))
        c_pruned = cnn.accuracy(xte, yte)
        cmodel, creport = compress_network(clayers, ccfg, pruned=cpruned)
        save(cmodel, out / "cnn.npz")
        for (n, _, _, _), (w, b) in zip(clayers, dequantized(cmodel)):
            cnn.params[f"{n}.weight"], cnn.params[f"{n}.bias"] = w, b
        c_quant = cnn.accuracy(xte, yte)
        from golden.twins.conv import infer_cnn
        c_fixed = float((infer_cnn(cmodel, quantize_input(xte, ccfg.f_in), (1, 8, 8))
                         .argmax(1) == yte).mean())
        summary["cnn"] = {"accuracy_float": c_float, "accuracy_pruned": c_pruned,
                          "accuracy_quantized": c_quant, "accuracy_fixed": c_fixed,
                          "compression": creport}
        log(f"CNN compressed: accuracy pruned+retrained {c_pruned:.4f}, quantized {c_quant:.4f}, "
            f"fixed-point {c_fixed:.4f}; "
            f"r_c {creport['total']['r_c']:.1f}x "
            f"(baseline {creport['total']['baseline']['r_c']:.1f}x)")

    md = ["", "## Accuracy (held-out test split, 360 images)", "",
          "| network | float | pruned + retrained | quantized | fixed-point (golden) |",
          "|---|---:|---:|---:|---:|"]
    for name, s in summary.items():
        fixed = f"{s['accuracy_fixed']:.4f}"
        md.append(f"| {name} | {s['accuracy_float']:.4f} | {s['accuracy_pruned']:.4f} | "
                  f"{s['accuracy_quantized']:.4f} | {fixed} |")
    write_report(summary["mlp"]["compression"], out / "mlp_report", title="Digits MLP",
                 extra_md="\n".join(md))
    if "cnn" in summary:
        write_report(summary["cnn"]["compression"], out / "cnn_report", title="Digits CNN",
                     extra_md="\n".join(md))
    atomic_json(out / "report.json", summary, default=float)
    atomic_write(out / "report.md",
        "# Digits: accuracy and compression\n" + "\n".join(md) + "\n\n" +
        "".join(f"- {n}: r_c {s['compression']['total']['r_c']:.1f}x (baseline "
                f"{s['compression']['total']['baseline']['r_c']:.1f}x), R(Irr) "
                f"{s['compression']['total']['R_irr']:.1f}x; per layer in {n}_report/report.md\n"
                for n, s in summary.items()))
    return summary


def main(argv=None):
    p = ArgumentParser(prog="python -m golden.digits", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-o", "--output", default="build/digits", help="output directory")
    p.add_argument("--epochs", type=positive_int, default=200, help="MLP training epochs")
    p.add_argument("--cnn-epochs", type=positive_int, default=30, help="CNN training epochs")
    p.add_argument("--sparsity", type=float, default=0.8, help="FC target sparsity")
    p.add_argument("--no-cnn", action="store_true", help="the MLP only")
    add_seed(p, "seed of the data split and the training")
    args = p.parse_args(argv)

    def body():
        if not 0 <= args.sparsity < 1:
            raise UsageError(f"--sparsity must be in [0, 1), not {args.sparsity}")
        output_dir(args.output, "-o/--output")
        run(args.output, epochs=args.epochs, cnn_epochs=args.cnn_epochs,
            sparsity=args.sparsity, seed=args.seed, with_cnn=not args.no_cnn)
        print(f"wrote {args.output}/report.md")
        return 0
    return run_main("python -m golden.digits", body)


if __name__ == "__main__":
    sys.exit(main())
