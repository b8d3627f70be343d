#!/usr/bin/python3
"""Exports small torch models the way users export them, for tests/lit/frontend/torch-exports.test.

Run with Debian's /usr/bin/python3 (torch 1.13, onnx); the outputs are
committed next to this script (torch_*.onnx, torch_*_x*.npy inputs and
torch_*_y*.npy torch's outputs for them), so the tests never need Python.

Each model is exported with torch.onnx.export's defaults (opset 14) plus:
  - cnn_dynamic:   dynamic_axes on the batch of input and output;
  - cnn_nofold:    do_constant_folding=False (the shape arithmetic of
                   `x.view(x.size(0), -1)` stays in the graph);
  - mlp_dynamic_nofold: both, an MLP on 8x8 images;
  - shapes:        both, a model whose forward computes with shapes: arange,
                   comparisons and where on constants, expand, slicing of an
                   activation, a size-driven reshape;
  - writes:        opset 16, writes into activations: a slice assignment
                   (ScatterND) and a scatter_add (ScatterElements, reduction
                   add; a repeated index).
Every model's reference outputs are torch's, for batch 1 (the default the
batch dimension is taken as) and, for the dynamic ones, batch 3 (given with
--input-shape).
"""
import os

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))


class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 2)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc(x.view(x.size(0), -1))


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x.view(x.size(0), -1))))


class Shapes(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 7 * 7, 5)

    def forward(self, x):
        y = self.conv(x)                                            # b x 4 x 8 x 8
        channels = torch.arange(y.size(1))                          # Shape, Gather, Range
        scale = torch.where(channels < 2, torch.ones(y.size(1)), torch.full((y.size(1),), 0.5))
        y = y * scale.view(1, -1, 1, 1).expand(y.size(0), -1, y.size(2), y.size(3))
        y = torch.relu(y[:, :, 1:, :-1])                            # Slice of an activation
        return self.fc(y.reshape(y.size(0), -1))


class Writes(nn.Module):
    """Writes into activations: a slice assignment (ScatterND) and a
    scatter_add with a repeated index (ScatterElements, reduction add at
    opset 16)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 8 * 8, 10)
        self.register_buffer("idx", torch.tensor([[3, 0, 7, 3]]))

    def forward(self, x):
        y = self.conv(x)
        y[:, 2:4] = torch.relu(x[:, :2])
        f = y.flatten(1)
        f = f.scatter_add(1, self.idx.expand(f.shape[0], 4), f[:, :4])
        return self.fc(f)


def save_npy(name, array):
    np.save(os.path.join(HERE, name), np.ascontiguousarray(array, dtype=np.float32))


def export(name, model, shape, dynamic, fold, batches, opset=None):
    torch.manual_seed(0)
    model.eval()
    example = torch.rand(*shape)
    kwargs = dict(input_names=["input"], output_names=["output"], do_constant_folding=fold)
    if opset:
        kwargs["opset_version"] = opset
    if dynamic:
        kwargs["dynamic_axes"] = {"input": {0: "batch"}, "output": {0: "batch"}}
    torch.onnx.export(model, example, os.path.join(HERE, f"torch_{name}.onnx"), **kwargs)
    for batch in batches:
        x = torch.rand(batch, *shape[1:])
        with torch.no_grad():
            y = model(x)
        save_npy(f"torch_{name}_x{batch}.npy", x.numpy())
        save_npy(f"torch_{name}_y{batch}.npy", y.numpy())


def main():
    torch.manual_seed(1)
    cnn, mlp, shapes = Cnn(), Mlp(), Shapes()
    with torch.no_grad():       # BatchNorm statistics that are not the identity
        cnn.bn1.running_mean.uniform_(-0.5, 0.5)
        cnn.bn1.running_var.uniform_(0.5, 2.0)
    export("cnn_dynamic", cnn, (2, 3, 16, 16), dynamic=True, fold=True, batches=[1, 3])
    export("cnn_nofold", cnn, (1, 3, 16, 16), dynamic=False, fold=False, batches=[1])
    export("mlp_dynamic_nofold", mlp, (2, 1, 8, 8), dynamic=True, fold=False, batches=[1, 3])
    export("shapes", shapes, (2, 3, 8, 8), dynamic=True, fold=False, batches=[1, 3])
    export("writes", Writes(), (1, 3, 8, 8), dynamic=False, fold=True, batches=[1], opset=16)


if __name__ == "__main__":
    main()
