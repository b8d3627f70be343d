#!/usr/bin/python3
"""Train a 64-128-10 MLP on sklearn's bundled digits and export models/mlp_digits.onnx.

Developer tooling; run via models/make_all.sh with Debian's /usr/bin/python3.
Data: sklearn.datasets.load_digits() (ships with sklearn, no download).
Split: train_test_split(test_size=0.3, random_state=0, stratify=labels).
Input: [1,64] float32 = pixel/16 (raw pixels are 0..16), row-major 8x8.
Output: "logits" [1,10], no softmax; class k = digit k.

Writes: mlp_digits.onnx, mlp_digits.accuracy, digits/test-{images,labels}.npy,
mlp_digits/test_data_set_{0,1,2}/.
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

sys.dont_write_bytecode = True  # keep __pycache__ out of models/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import modelutil  # noqa: E402

SEED = 0


def preprocess(images_u8):
    """uint8 [N,8,8] (0..16) -> float32 [N,64] = pixel/16."""
    return images_u8.reshape(len(images_u8), 64).astype(np.float32) / np.float32(16.0)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--out", default=modelutil.HERE)
    args = ap.parse_args()

    t0 = time.time()
    modelutil.seed_everything(SEED)
    digits = load_digits()
    images = digits.images.astype(np.uint8)   # values are integers 0..16
    assert np.array_equal(images, digits.images) and images.max() == 16
    labels = digits.target.astype(np.uint8)
    tr_img, te_img, tr_lab, te_lab = train_test_split(
        images, labels, test_size=0.3, random_state=0, stratify=labels)

    xtr = torch.from_numpy(preprocess(tr_img))
    xte = torch.from_numpy(preprocess(te_img))
    ytr = torch.from_numpy(tr_lab.astype(np.int64))
    yte = torch.from_numpy(te_lab.astype(np.int64))

    model = MLP()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(SEED)
    batch = 32
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        for i in range(0, len(xtr), batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            F.cross_entropy(model(xtr[idx]), ytr[idx]).backward()
            opt.step()

    model.eval()
    with torch.no_grad():
        acc = float((model(xte).argmax(1) == yte).float().mean())
    modelutil.write_accuracy(os.path.join(args.out, "mlp_digits.accuracy"), acc, len(xte))

    ddir = os.path.join(args.out, "digits")
    os.makedirs(ddir, exist_ok=True)
    np.save(os.path.join(ddir, "test-images.npy"), np.ascontiguousarray(te_img))
    np.save(os.path.join(ddir, "test-labels.npy"), np.ascontiguousarray(te_lab))
    # The training split too: calibration and fine-tuning on the chip use it.
    np.save(os.path.join(ddir, "train-images.npy"), np.ascontiguousarray(tr_img))
    np.save(os.path.join(ddir, "train-labels.npy"), np.ascontiguousarray(tr_lab))

    onnx_path = os.path.join(args.out, "mlp_digits.onnx")
    m = modelutil.export_onnx(model, torch.zeros(1, 64), onnx_path)
    print("mlp_digits.onnx ops:", modelutil.op_list(m))

    # Reference data: the first 3 images of the saved test set (batch 1).
    ins, outs = [], []
    with torch.no_grad():
        for k in range(3):
            x = preprocess(te_img[k:k + 1])            # [1,64] float32
            ins.append(x)
            outs.append(model(torch.from_numpy(x)).numpy())
            print("test_data_set_%d: label %d, argmax %d"
                  % (k, int(te_lab[k]), int(outs[-1].argmax())))
    modelutil.write_test_data(os.path.join(args.out, "mlp_digits"), ins, outs)
    print("done in %.1fs" % (time.time() - t0))


if __name__ == "__main__":
    main()
