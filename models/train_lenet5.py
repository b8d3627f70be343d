#!/usr/bin/python3
"""Train LeNet-5 (with BatchNorm) on Fashion-MNIST and export models/lenet5.onnx.

Developer tooling; run via models/make_all.sh with Debian's /usr/bin/python3.
Data: Debian's gzipped IDX files under /usr/share/datasets/fashion-mnist/.
Input: [1,1,28,28] float32 = pixel/255, no other normalization.
Output: "logits" [1,10], no softmax.

Writes: lenet5.onnx, lenet5.accuracy, lenet5/test_data_set_{0,1,2}/.
"""
import argparse
import gzip
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.dont_write_bytecode = True  # keep __pycache__ out of models/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import modelutil  # noqa: E402

DATA_DIR = "/usr/share/datasets/fashion-mnist"
SEED = 20240501
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(path):
    """Parse a gzipped IDX file (big-endian header: magic, dims) into numpy."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = data[0] * 256 + data[1], data[2], data[3]
    if zero != 0 or dtype_code != 0x08:  # 0x08 = unsigned byte
        raise ValueError("%s: not a ubyte IDX file" % path)
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise ValueError("%s: size mismatch" % path)
    return arr.reshape(dims)


def load_split(name):
    x = read_idx(os.path.join(DATA_DIR, "%s-images-idx3-ubyte.gz" % name))
    y = read_idx(os.path.join(DATA_DIR, "%s-labels-idx1-ubyte.gz" % name))
    assert x.shape[1:] == (28, 28) and x.shape[0] == y.shape[0]
    return x, y


def preprocess(images_u8):
    """uint8 [N,28,28] -> float32 [N,1,28,28] = pixel/255."""
    return (images_u8.astype(np.float32) / np.float32(255.0))[:, None, :, :]


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.bn1 = nn.BatchNorm2d(6)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.bn2 = nn.BatchNorm2d(16)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)   # 6x14x14
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)   # 16x5x5
        x = torch.flatten(x, 1)                                  # 400
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def evaluate(model, x, y, batch=1000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            logits = model(x[i:i + batch])
            correct += int((logits.argmax(1) == y[i:i + batch]).sum())
    return correct / len(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--out", default=modelutil.HERE)
    args = ap.parse_args()

    t0 = time.time()
    modelutil.seed_everything(SEED)
    xtr_u8, ytr = load_split("train")
    xte_u8, yte = load_split("t10k")
    xtr = torch.from_numpy(preprocess(xtr_u8))
    xte = torch.from_numpy(preprocess(xte_u8))
    ytr = torch.from_numpy(ytr.astype(np.int64))
    yte = torch.from_numpy(yte.astype(np.int64))

    model = LeNet5()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
    gen = torch.Generator().manual_seed(SEED)
    batch = 128
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        total = 0.0
        for i in range(0, len(xtr), batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            total += float(loss) * len(idx)
        sched.step()
        print("epoch %d: train loss %.4f, test acc %.4f (%.0fs)"
              % (epoch + 1, total / len(xtr), evaluate(model, xte, yte),
                 time.time() - t0), flush=True)

    model.eval()
    acc = evaluate(model, xte, yte)
    modelutil.write_accuracy(os.path.join(args.out, "lenet5.accuracy"), acc, len(xte))

    onnx_path = os.path.join(args.out, "lenet5.onnx")
    m = modelutil.export_onnx(model, torch.zeros(1, 1, 28, 28), onnx_path)
    ops = modelutil.op_list(m)
    print("lenet5.onnx ops:", ops)
    if "BatchNormalization" not in ops:
        sys.exit("error: BatchNormalization was fused away by the exporter")

    # Reference data: the first 3 test images, one at a time (batch 1).
    ins, outs = [], []
    with torch.no_grad():
        for k in range(3):
            x = preprocess(xte_u8[k:k + 1])           # [1,1,28,28] float32
            ins.append(x)
            outs.append(model(torch.from_numpy(x)).numpy())
            print("test_data_set_%d: label %d (%s), argmax %d"
                  % (k, int(yte[k]), CLASSES[int(yte[k])], int(outs[-1].argmax())))
    modelutil.write_test_data(os.path.join(args.out, "lenet5"), ins, outs)
    print("done in %.1fs" % (time.time() - t0))


if __name__ == "__main__":
    main()
