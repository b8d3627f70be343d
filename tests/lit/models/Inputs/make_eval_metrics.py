#!/usr/bin/python3
"""Expected metrics of `xbarc eval --metrics-json` on the bundled models,
computed without xbarc: models/verify_models.py's numpy interpreter (float64)
runs lenet5.onnx on Fashion-MNIST's test split (Debian's IDX files) and
mlp_digits.onnx on the digits test split (models/digits/*.npy), and numpy and
sklearn compute top-1, top-5, per-class accuracy and the confusion matrix.

Writes lenet5.metrics.json and mlp_digits.metrics.json beside this script;
check_eval_metrics.py compares xbarc's JSON with them.  Run it again when a
model or data set changes:  /usr/bin/python3 make_eval_metrics.py
"""
import json
import os
import sys

import numpy as np
from sklearn.metrics import confusion_matrix, top_k_accuracy_score

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.normpath(os.path.join(HERE, "../../../../models"))
sys.path.insert(0, MODELS)
import verify_models as vm  # noqa: E402
import onnx  # noqa: E402


def logits_of(stem, x):
    m = onnx.load(os.path.join(MODELS, stem + ".onnx"))
    return np.concatenate([vm.run(m, x[i:i + 500]) for i in range(0, len(x), 500)])


def metrics(logits, y, n_classes):
    pred = logits.argmax(1)         # the first of ties, as xbarc
    labels = list(range(n_classes))
    cm = confusion_matrix(y, pred, labels=labels)
    counts = cm.sum(1)
    correct = np.diag(cm)
    # the label's rank: outputs greater, or equal at a lower index (xbarc's rule)
    ly = logits[np.arange(len(y)), y][:, None]
    idx = np.arange(n_classes)[None, :]
    rank = ((logits > ly) | ((logits == ly) & (idx < y[:, None]))).sum(1)
    top5 = float((rank < 5).mean())
    assert abs(top5 - top_k_accuracy_score(y, logits, k=5, labels=labels)) < 1e-3
    return {
        "images": int(len(y)),
        "top1": float((pred == y).mean()),
        "top5": top5,
        "correct": int((pred == y).sum()),
        "correct_top5": int((rank < 5).sum()),
        "per_class": [{"class": c, "count": int(counts[c]), "correct": int(correct[c])}
                      for c in labels],
        "confusion": cm.tolist(),
    }


def main():
    x = vm.read_idx(os.path.join(vm.FASHION, "t10k-images-idx3-ubyte.gz"))
    y = vm.read_idx(os.path.join(vm.FASHION, "t10k-labels-idx1-ubyte.gz")).astype(np.int64)
    xf = (x.astype(np.float32) / np.float32(255.0))[:, None]
    out = {"lenet5": metrics(logits_of("lenet5", xf), y, 10)}
    img = np.load(os.path.join(MODELS, "digits/test-images.npy"))
    lab = np.load(os.path.join(MODELS, "digits/test-labels.npy")).astype(np.int64)
    xf = img.reshape(len(img), 64).astype(np.float32) / np.float32(16.0)
    out["mlp_digits"] = metrics(logits_of("mlp_digits", xf), lab, 10)
    for stem, m in out.items():
        with open(os.path.join(HERE, stem + ".metrics.json"), "w") as f:
            json.dump(m, f, indent=1)
            f.write("\n")
        print("%s: top-1 %.4f, top-5 %.4f over %d images" % (stem, m["top1"], m["top5"], m["images"]))


if __name__ == "__main__":
    main()
