#!/usr/bin/python3
"""Writes the training split of scikit-learn's digits used by the CrossSim
comparison of docs/adc.md section 6 as an .npz (x: float32 N x 64 scaled by
1/16, y: labels), for `xbarc compile --calib FILE.npz`.

The split: perm = np.random.RandomState(0).permutation(1797); training images
perm[:1297], test images perm[1297:] (--split test writes those).
Usage: scripts/peer_digits_train.py OUT.npz [--split train|test]"""
import argparse

import numpy as np
from sklearn.datasets import load_digits


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--split", choices=("train", "test"), default="train")
    args = ap.parse_args()
    digits = load_digits()
    perm = np.random.RandomState(0).permutation(len(digits.target))
    idx = perm[:1297] if args.split == "train" else perm[1297:]
    x = (digits.data[idx] / 16.0).astype(np.float32)
    y = digits.target[idx].astype(np.int64)
    np.savez(args.out, x=x, y=y)


if __name__ == "__main__":
    main()
