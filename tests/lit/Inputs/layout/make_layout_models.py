#!/usr/bin/python3
"""Generates the small models of the layout-operator lit tests (tests/lit/frontend/layout-*.test).

Run with Debian's /usr/bin/python3 (torch 1.13, onnx 1.12); the outputs are
committed next to this script, so the tests never need Python.  Each torch
model is exported as a researcher would (torch.onnx.export, opset 14 unless
named) with its input and torch's own outputs as .npy; calib_NAME/ holds a few
more inputs for `xbarc compile --calib`.
"""
import os

import numpy as np
import onnx
from onnx import numpy_helper
import torch
import torch.nn.functional as F
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(0)


def path(name):
    return os.path.join(HERE, name)


def export(model, x, name, output_names, opset=14, calib=0):
    model.eval()
    with torch.no_grad():
        outputs = model(x)
    if not isinstance(outputs, tuple):
        outputs = (outputs,)
    torch.onnx.export(model, (x,), path(name + ".onnx"), input_names=["x"], output_names=output_names,
                      opset_version=opset)
    np.save(path(f"{name}_x.npy"), x.numpy())
    for n, t in zip(output_names, outputs):
        np.save(path(f"{name}_{n}.npy"), t.numpy())
    if calib:
        os.makedirs(path("calib_" + name), exist_ok=True)
        for i in range(calib):
            np.save(path(f"calib_{name}/{i}.npy"), torch.randn(x.shape).numpy())


def fold_pads(name, pads):
    """torch 1.13 computes a reflect/replicate Pad's pads at run time (Shape,
    ConstantOfShape, Cast...: import-time folding is another change's); here
    every Pad gets them as an initializer and the dead computation goes."""
    m = onnx.load(path(name + ".onnx"))
    g = m.graph
    g.initializer.append(numpy_helper.from_array(np.array(pads, np.int64), "folded_pads"))
    for node in g.node:
        if node.op_type == "Pad":
            node.input[1] = "folded_pads"
    while True:
        used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
        dead = [n for n in g.node if not any(o in used for o in n.output)]
        if not dead:
            break
        for n in dead:
            g.node.remove(n)
    onnx.save(m, path(name + ".onnx"))


class TinyUNet(nn.Module):
    """Two levels: reflect-padded convs, a strided down conv, a ConvTranspose
    up path and an Upsample path, skip connections by Concat."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(2, 4, 3), nn.ReLU())
        self.down = nn.Conv2d(4, 8, 3, stride=2, padding=1)
        self.mid = nn.Sequential(nn.ReplicationPad2d(1), nn.Conv2d(8, 8, 3), nn.ReLU())
        self.up_t = nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1)
        self.up_n = nn.Upsample(scale_factor=2, mode="nearest")
        self.up_b = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.dec = nn.Conv2d(4 + 4 + 8 + 8, 3, 3, padding=1)

    def forward(self, x):
        e = self.enc(x)
        m = self.mid(torch.relu(self.down(e)))
        return self.dec(torch.cat([e, self.up_t(m), self.up_n(m), self.up_b(m)], 1))


class LayoutOps(nn.Module):
    """Every layout operator once: grouped dilated 1-D ConvTranspose, F.interpolate
    (bilinear with align_corners, nearest by 1.5 and 2), split, slicing."""

    def __init__(self):
        super().__init__()
        self.ct = nn.ConvTranspose1d(4, 6, 3, stride=3, padding=2, dilation=2, groups=2, output_padding=1)

    def forward(self, x):
        a = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        b = F.interpolate(x, scale_factor=(1.5, 2), mode="nearest")
        p, q = torch.split(x, [1, 3], dim=1)
        r = x[:, :, 1:5:2, 1:] * 2  # Tile: the ONNX test cases (torch exports repeat through Shape)
        c = self.ct(x.reshape(1, 4, 24))
        return a, b, p * q.sum(1, keepdim=True), r, c


export(TinyUNet(), torch.randn(1, 2, 8, 8), "unet", ["y"], calib=4)
fold_pads("unet", [0, 0, 1, 1, 0, 0, 1, 1])
export(LayoutOps(), torch.randn(1, 4, 6, 4), "layout_ops", ["a", "b", "s", "r", "c"])
