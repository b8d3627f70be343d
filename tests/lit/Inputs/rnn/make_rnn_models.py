#!/usr/bin/python3
"""Generates the recurrent models of tests/lit/frontend/rnn-torch.test.

Run with Debian's /usr/bin/python3 (torch 1.13, onnx 1.12); the outputs are
committed next to this script.  nn.LSTM(8, 16) and nn.GRU(8, 16,
bidirectional=True) over a sequence of 5 (batch_first False), each with a
Linear head, exported at torch's default opset (14) with the input and
torch's own outputs as .npy.
"""
import os

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(0)


def path(name):
    return os.path.join(HERE, name)


class Lstm(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(8, 16)
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.head(y)


class BiGru(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(8, 16, bidirectional=True)
        self.head = nn.Linear(32, 4)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.head(y)


def export(model, name):
    model.eval()
    x = torch.randn(5, 2, 8)
    with torch.no_grad():
        y = model(x)
    torch.onnx.export(model, (x,), path(name + ".onnx"), input_names=["x"], output_names=["y"])
    np.save(path(f"{name}_x.npy"), x.numpy())
    np.save(path(f"{name}_y.npy"), y.numpy())


export(Lstm(), "lstm")
export(BiGru(), "bigru")


def bad_rnn():
    """bad_rnn.onnx: one unsupported or malformed recurrent node a line."""
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)

    def init(name, *shape):
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)

    inits = [init("W1", 1, 4, 2), init("R1", 1, 4, 4), init("W4", 1, 16, 2), init("R4", 1, 16, 4),
             init("W3", 1, 12, 2), init("R3", 1, 12, 4), init("P", 1, 12),
             numpy_helper.from_array(np.array([2], dtype=np.int32), "lens")]
    nodes = [
        helper.make_node("LSTM", ["x", "W4", "R4", "", "", "", "", "P"], ["peep"], hidden_size=4, name="peepholes"),
        helper.make_node("RNN", ["x", "W1", "R1"], ["relu"], hidden_size=4, activations=["Relu"], name="relu"),
        helper.make_node("GRU", ["x", "W3", "R3", "", "lens"], ["lens_out"], hidden_size=4, name="seq_lens"),
        helper.make_node("LSTM", ["x", "W4", "R4"], ["forget"], hidden_size=4, input_forget=1, name="forget"),
        helper.make_node("RNN", ["x", "W3", "R1"], ["shape"], hidden_size=4, name="w_shape"),
        helper.make_node("RNN", ["long", "W1", "R1"], ["long_out"], hidden_size=4, direction="bidirectional",
                         name="too_long"),
    ]
    outs = [helper.make_tensor_value_info(n.output[0], TensorProto.FLOAT, None) for n in nodes]
    graph = helper.make_graph(nodes, "bad_rnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 1, 2]),
                                                 helper.make_tensor_value_info("long", TensorProto.FLOAT, [5001, 1, 2])],
                              outs, inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]), path("bad_rnn.onnx"))


import onnx  # noqa: E402  (only for the hand-written model)
bad_rnn()
