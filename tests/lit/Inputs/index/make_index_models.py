#!/usr/bin/python3
"""Models with run-time integer and bool values, for tests/lit/frontend/index.test.

Run with Debian's /usr/bin/python3 (torch 1.13, onnx); the outputs are
committed next to this script, so the tests never need Python:
  - tiny_bert.onnx: a BERT-style encoder layer exported by torch with its
    defaults (opset 14): nn.Embedding of int64 token ids plus position
    embeddings, a padding mask (ids == 0, a bool) applied with masked_fill
    (Where), one attention head, a feed-forward block, decomposed LayerNorms,
    a classifier on the first token; outputs the logits and their argmax
    (int64).  tiny_bert_ids.npy (int64) and torch's outputs
    tiny_bert_logits.npy, tiny_bert_argmax.npy; tiny_bert_bad_ids.npy holds a
    token id beyond the table.
  - index_ops.onnx: ArgMin, GatherElements, Mod (integer and fmod), Trilu,
    CumSum (exclusive, reverse), Cast, integer Div and Max on run-time values
    from an int64 and a float input; index_ops_*.npy inputs and outputs
    computed by numpy.
"""
import os

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
VOCAB, SEQ, DIM, CLASSES = 16, 8, 8, 4


class TinyBert(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(SEQ, DIM)
        self.ln1 = nn.LayerNorm(DIM)
        self.q, self.k, self.v, self.o = (nn.Linear(DIM, DIM) for _ in range(4))
        self.ln2 = nn.LayerNorm(DIM)
        self.ff1, self.ff2 = nn.Linear(DIM, 2 * DIM), nn.Linear(2 * DIM, DIM)
        self.ln3 = nn.LayerNorm(DIM)
        self.head = nn.Linear(DIM, CLASSES)

    def forward(self, ids):
        positions = torch.arange(ids.size(1)).unsqueeze(0)
        h = self.ln1(self.tok(ids) + self.pos(positions))
        pad = (ids == 0).unsqueeze(1)                      # [1, 1, SEQ] bool
        scores = self.q(h) @ self.k(h).transpose(1, 2) / DIM ** 0.5
        att = torch.softmax(scores.masked_fill(pad, -1e4), dim=-1)
        h = self.ln2(h + self.o(att @ self.v(h)))
        h = self.ln3(h + self.ff2(torch.relu(self.ff1(h))))
        logits = self.head(h[:, 0])
        return logits, logits.argmax(-1)


def save(name, array):
    np.save(os.path.join(HERE, name), array)


def tiny_bert():
    torch.manual_seed(0)
    model = TinyBert().eval()
    ids = torch.tensor([[1, 5, 9, 3, 15, 7, 0, 0]], dtype=torch.int64)
    torch.onnx.export(model, (ids,), os.path.join(HERE, "tiny_bert.onnx"), input_names=["ids"],
                      output_names=["logits", "argmax"])
    with torch.no_grad():
        logits, argmax = model(ids)
    save("tiny_bert_ids.npy", ids.numpy())
    save("tiny_bert_logits.npy", logits.numpy())
    save("tiny_bert_argmax.npy", argmax.numpy())
    save("tiny_bert_bad_ids.npy", np.array([[1, 5, 9, 3, 16, 7, 0, 0]], np.int64))


def index_ops():
    node = helper.make_node
    nodes = [
        node("ArgMin", ["x"], ["argmin"], axis=1, keepdims=0, select_last_index=1),
        node("GatherElements", ["x", "idx"], ["gathered"], axis=1),
        node("Mod", ["idx", "three"], ["mod"]),
        node("Mod", ["x", "two_f"], ["fmod"], fmod=1),
        node("Trilu", ["x"], ["lower"], upper=0),
        node("CumSum", ["x", "axis1"], ["cumsum"], exclusive=1, reverse=1),
        node("Cast", ["x"], ["x_int"], to=TensorProto.INT32),
        node("Div", ["x_int", "three32"], ["quot"]),
        node("Max", ["idx", "one"], ["maxed"]),
        node("Less", ["idx", "one"], ["small"]),
    ]
    consts = [
        helper.make_tensor("three", TensorProto.INT64, [], [3]),
        helper.make_tensor("one", TensorProto.INT64, [], [1]),
        helper.make_tensor("two_f", TensorProto.FLOAT, [], [2.0]),
        helper.make_tensor("axis1", TensorProto.INT64, [], [1]),
        helper.make_tensor("three32", TensorProto.INT32, [], [3]),
    ]
    f, i64, i32, b = TensorProto.FLOAT, TensorProto.INT64, TensorProto.INT32, TensorProto.BOOL
    outputs = [("argmin", i64, [3]), ("gathered", f, [3, 4]), ("mod", i64, [3, 4]), ("fmod", f, [3, 4]),
               ("lower", f, [3, 4]), ("cumsum", f, [3, 4]), ("quot", i32, [3, 4]), ("maxed", i64, [3, 4]),
               ("small", b, [3, 4])]
    graph = helper.make_graph(nodes, "index_ops",
                              [helper.make_tensor_value_info("x", f, [3, 4]),
                               helper.make_tensor_value_info("idx", i64, [3, 4])],
                              [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs], consts)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(HERE, "index_ops.onnx"))

    x = np.array([[-7.5, 2, 2, 5], [3, -1, 8, -1], [0.5, 4, -6, 9]], np.float32)
    idx = np.array([[0, -1, 2, 1], [3, 3, -4, 0], [-2, 1, 0, 2]], np.int64)
    save("index_ops_x.npy", x)
    save("index_ops_idx.npy", idx)
    save("index_ops_argmin.npy", (3 - np.argmin(x[:, ::-1], axis=1)).astype(np.int64))
    save("index_ops_gathered.npy", np.take_along_axis(x, np.where(idx < 0, idx + 4, idx), axis=1))
    save("index_ops_mod.npy", np.mod(idx, 3))
    save("index_ops_fmod.npy", np.fmod(x, np.float32(2)))
    save("index_ops_lower.npy", np.tril(x))
    rev = np.cumsum(x[:, ::-1], axis=1)[:, ::-1]
    save("index_ops_cumsum.npy", (rev - x).astype(np.float32))
    xi = np.trunc(x).astype(np.int32)
    save("index_ops_quot.npy", (np.sign(xi) * (np.abs(xi) // 3)).astype(np.int32))
    save("index_ops_maxed.npy", np.maximum(idx, 1))
    save("index_ops_small.npy", idx < 1)


if __name__ == "__main__":
    tiny_bert()
    index_ops()
