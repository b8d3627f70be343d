#!/usr/bin/python3
"""Writes attention.onnx: one self-attention block, seq 4, d 8 (torch 1.13).

q, k, v = x Wq, x Wk, x Wv; softmax(q k^T / sqrt(d)) v; output projection.
The four projections have constant weights (crossbars); q k^T and
attention x V multiply two activations (digital units).  Run with Debian's
/usr/bin/python3: python3 make_attention.py (writes next to itself)."""
import math
import os

import torch

SEQ, D = 4, 8


class Attention(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.q = torch.nn.Linear(D, D)
        self.k = torch.nn.Linear(D, D)
        self.v = torch.nn.Linear(D, D)
        self.out = torch.nn.Linear(D, D)

    def forward(self, x):
        q, k, v = self.q(x), self.k(x), self.v(x)
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(D)
        return self.out(torch.matmul(torch.softmax(scores, dim=-1), v))


torch.manual_seed(0)
model = Attention().eval()
here = os.path.dirname(os.path.abspath(__file__))
torch.onnx.export(model, torch.randn(1, SEQ, D), os.path.join(here, "attention.onnx"),
                  input_names=["x"], output_names=["y"], opset_version=14)


class Products(torch.nn.Module):
    """products.onnx: four products of two activations (more than the summary
    names) and a matmul with a batched constant right operand (left digital)."""
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(D, D)
        self.batched = torch.nn.Parameter(torch.randn(2, D, D))

    def forward(self, x):
        h = self.proj(x)
        for _ in range(2):
            h = torch.matmul(torch.matmul(h, x.transpose(-2, -1)), x)
        return torch.matmul(h, self.batched)


torch.onnx.export(Products().eval(), torch.randn(1, SEQ, D), os.path.join(here, "products.onnx"),
                  input_names=["x"], output_names=["y"], opset_version=14)
