#!/usr/bin/python3
"""Generates autoencoder.onnx, the non-classifier of tests/lit/models/eval-snr.test:
a digits autoencoder (64 -> 16 -> 64, Linear-ReLU-Linear) trained with torch
on the digits training split (models/digits, pixels / 16) and exported as a
researcher would (torch.onnx.export, opset 13, input 'input' [1, 64], output
'recon' [1, 64]).  Run with Debian's /usr/bin/python3 (torch 1.13); the model
is committed next to this script, so the test needs no torch.
"""
import os

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
DIGITS = os.path.normpath(os.path.join(HERE, "../../../../models/digits"))
torch.manual_seed(0)


def main():
    x = np.load(os.path.join(DIGITS, "train-images.npy")).reshape(-1, 64).astype(np.float32) / 16
    xt = torch.from_numpy(x)
    model = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 64))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(600):
        opt.zero_grad()
        loss = ((model(xt) - xt) ** 2).mean()
        loss.backward()
        opt.step()
    model.eval()
    print("training MSE %.4f" % loss.item())
    torch.onnx.export(model, (xt[:1],), os.path.join(HERE, "autoencoder.onnx"), input_names=["input"],
                      output_names=["recon"], opset_version=13)


if __name__ == "__main__":
    main()
