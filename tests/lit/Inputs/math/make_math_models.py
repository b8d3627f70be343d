#!/usr/bin/python3
"""Generates the small models of the math-operator lit tests (tests/lit/frontend/math-*.test).

Run with Debian's /usr/bin/python3 (torch 1.13, onnx 1.12); the outputs are
committed next to this script, so the tests never need Python.  Each torch
model is exported the way a researcher would (torch.onnx.export, default
opset 14 unless named) and comes with its input and torch's own outputs as
.npy, the independent reference; a few inputs per model go to calib_NAME/ for
`xbarc compile --calib`.  ok_math_attrs.onnx is written by hand with
onnx.helper to pin down how the importer normalizes attributes, bad_math.onnx
to hold one mistake a node.
"""
import os

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(0)


def path(name):
    return os.path.join(HERE, name)


def export(model, inputs, name, input_names, output_names, opset=14, calib=0):
    """Exports model(*inputs), saves the inputs and torch's outputs as .npy, and
    `calib` more random inputs like the first one for calibration."""
    model.eval()
    with torch.no_grad():
        outputs = model(*inputs)
    if not isinstance(outputs, tuple):
        outputs = (outputs,)
    torch.onnx.export(model, tuple(inputs), path(name + ".onnx"), input_names=input_names,
                      output_names=output_names, opset_version=opset)
    for n, t in zip(input_names, inputs):
        np.save(path(f"{name}_{n}.npy"), t.numpy())
    for n, t in zip(output_names, outputs):
        np.save(path(f"{name}_{n}.npy"), t.numpy())
    if calib:
        os.makedirs(path("calib_" + name), exist_ok=True)
        for i in range(calib):
            np.save(path(f"calib_{name}/{i}.npy"), torch.randn(inputs[0].shape).numpy())


class Gelu(nn.Module):
    """torch's two GELUs: exported as Div/Erf/Add/Mul and Pow/Mul/Add/Tanh."""

    def __init__(self):
        super().__init__()
        self.erf = nn.GELU()
        self.tanh = nn.GELU(approximate="tanh")

    def forward(self, x):
        return self.erf(x), self.tanh(x)


class MlpBlock(nn.Module):
    """A transformer's MLP sub-block on 6 tokens of 16 features, pooled to 4 logits."""

    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(16)
        self.fc1 = nn.Linear(16, 32)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(32, 16)
        self.ln2 = nn.LayerNorm(16)
        self.head = nn.Linear(16, 4)
        with torch.no_grad():           # affine parameters away from their 1 / 0 start
            for ln in (self.ln1, self.ln2):
                ln.weight.uniform_(0.5, 1.5)
                ln.bias.uniform_(-0.5, 0.5)

    def forward(self, x):
        h = x + self.fc2(self.act(self.fc1(self.ln1(x))))
        return self.head(self.ln2(h).mean(dim=1))


class CnnHead(nn.Module):
    """Conv, BatchNorm, HardSwish, Conv, PReLU, a ReduceMean head (MobileNetV3's end)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.act1 = nn.Hardswish()
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.act2 = nn.PReLU(8)
        self.fc = nn.Linear(8, 5)
        with torch.no_grad():
            self.bn.running_mean.uniform_(-0.2, 0.2)
            self.bn.running_var.uniform_(0.5, 2.0)
            self.act2.weight.uniform_(0.05, 0.5)

    def forward(self, x):
        x = self.act1(self.bn(self.conv1(x)))
        x = self.act2(self.conv2(x))
        return self.fc(x.mean(dim=(2, 3)))


class CnnNorm(nn.Module):
    """InstanceNorm, ELU, SELU, Softplus and a ReduceMax head."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.norm = nn.InstanceNorm2d(4, affine=True)
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1)
        self.fc = nn.Linear(6, 3)
        with torch.no_grad():
            self.norm.weight.uniform_(0.5, 1.5)
            self.norm.bias.uniform_(-0.5, 0.5)

    def forward(self, x):
        x = nn.functional.elu(self.norm(self.conv1(x)), alpha=0.7)
        x = nn.functional.softplus(torch.selu(self.conv2(x)))
        return self.fc(x.amax(dim=(2, 3)))


class MathOps(nn.Module):
    """The element-wise, variadic and reduction operators, one output a family.
    (torch.clamp with tensor bounds exports a Cast: ok_math_attrs.onnx has a
    Clip with a value bound instead.)"""

    def forward(self, x, y):
        a = x.abs() + 0.5
        unary = [a.sqrt(), x.exp(), a.log(), torch.erf(x), -x, a.reciprocal(), x.abs(), x.floor(),
                 x.ceil(), x.round(), nn.functional.softplus(x), nn.functional.softsign(x),
                 nn.functional.hardswish(x), nn.functional.elu(x), torch.selu(x), nn.functional.celu(x, 1.5)]
        binary = [torch.maximum(x, y), torch.minimum(x, y), a.pow(y), x.pow(3),
                  nn.functional.prelu(x, torch.tensor([0.1, 0.2, 0.3]))]
        reduce = [x.sum(dim=1), x.mean(dim=(0, 2)), x.amax(dim=2), x.amin(dim=0), x.prod(dim=1), x.norm(dim=2),
                  x.norm(p=1, dim=1), torch.logsumexp(x * 40, dim=2)]
        return (torch.cat([t.reshape(-1) for t in unary]), torch.cat([t.reshape(-1) for t in binary]),
                torch.cat([t.reshape(-1) for t in reduce]))


def attrs_model():
    """Hand-written nodes whose attributes the importer must normalize."""
    F = TensorProto.FLOAT
    nodes = [
        helper.make_node("ReduceSum", ["x", "axes"], ["s"], keepdims=0),                # axes [-1, 0] -> [0, 2]
        helper.make_node("ReduceSum", ["x", "none"], ["n"], noop_with_empty_axes=1),    # an identity
        helper.make_node("ReduceMax", ["n"], ["m"]),                                    # all axes, keepdims 1
        helper.make_node("ReduceLogSumExp", ["x"], ["l"], axes=[1], keepdims=0),
        helper.make_node("Selu", ["x"], ["selu"]),                                      # ONNX's constants
        helper.make_node("Elu", ["x"], ["elu"]),
        helper.make_node("Clip", ["x", "lo", ""], ["clip"]),                            # a value bound: max
        helper.make_node("Sum", ["x", "s3", "elu"], ["sum"]),
        helper.make_node("LayerNormalization", ["x", "scale"], ["ln"], axis=-2),
        helper.make_node("Pow", ["x", "three"], ["pow"]),                               # int64 exponent
    ]
    inits = [numpy_helper.from_array(np.array([-1, 0], np.int64), "axes"),
             numpy_helper.from_array(np.zeros([0], np.int64), "none"),
             numpy_helper.from_array(np.ones([3, 4], np.float32), "scale"),
             numpy_helper.from_array(np.array(3, np.int64), "three")]
    graph = helper.make_graph(
        nodes, "attrs", [helper.make_tensor_value_info("x", F, [2, 3, 4]), helper.make_tensor_value_info("lo", F, []),
                         helper.make_tensor_value_info("s3", F, [4])],
        [helper.make_tensor_value_info(n, F, shape) for n, shape in
         (("s", [3]), ("m", [1, 1, 1]), ("l", [2, 4]), ("selu", [2, 3, 4]), ("clip", [2, 3, 4]), ("sum", [2, 3, 4]),
          ("ln", [2, 3, 4]), ("pow", [2, 3, 4]))],
        initializer=inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="make_math_models.py")
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, path("ok_math_attrs.onnx"))


def bad_model():
    """One mistake a node, each independent of the others, so every one is reported."""
    F = TensorProto.FLOAT
    nodes = [
        helper.make_node("ReduceSum", ["x", "twice"], ["r1"], name="sum_twice"),
        helper.make_node("ReduceMean", ["x"], ["r2"], name="mean_axis3", axes=[3]),
        helper.make_node("LayerNormalization", ["x", "w"], ["ln1"], name="ln_axis5", axis=5),
        helper.make_node("LayerNormalization", ["x", "w"], ["ln2"], name="ln_stash", stash_type=0),
        helper.make_node("Celu", ["x"], ["celu"], name="celu_zero", alpha=0.0),
        helper.make_node("Pow", ["x", "huge"], ["pow"], name="pow_huge"),
        helper.make_node("Clip", ["x", "lo4"], ["clip"], name="clip_vector"),
        helper.make_node("PRelu", ["x", "slope5"], ["prelu"], name="prelu_slope"),
        helper.make_node("Max", ["x", "slope5"], ["max"], name="max_shapes"),
    ]
    inits = [numpy_helper.from_array(np.array([1, -2], np.int64), "twice"),
             numpy_helper.from_array(np.ones([4], np.float32), "w"),
             numpy_helper.from_array(np.array(2**40 + 1, np.int64), "huge")]
    outs = ["r1", "r2", "ln1", "ln2", "celu", "pow", "clip", "prelu", "max"]
    graph = helper.make_graph(
        nodes, "bad", [helper.make_tensor_value_info("x", F, [2, 3, 4]), helper.make_tensor_value_info("lo4", F, [4]),
                       helper.make_tensor_value_info("slope5", F, [5])],
        [helper.make_tensor_value_info(n, F, None) for n in outs], initializer=inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="make_math_models.py")
    m.ir_version = 8
    onnx.save(m, path("bad_math.onnx"))


def main():
    x = torch.randn(2, 64) * 3
    export(Gelu(), [x], "gelu", ["x"], ["gelu_erf", "gelu_tanh"])
    tokens = torch.randn(1, 6, 16)
    block = MlpBlock()
    export(block, [tokens], "mlp_block", ["x"], ["logits"], opset=14, calib=8)
    export(block, [tokens], "mlp_block17", ["x"], ["logits"], opset=17, calib=8)
    export(CnnHead(), [torch.randn(1, 3, 8, 8)], "cnn_head", ["x"], ["logits"], calib=8)
    export(CnnNorm(), [torch.randn(1, 3, 8, 8)], "cnn_norm", ["x"], ["logits"], calib=8)
    xm = torch.randn(2, 3, 4) * 2
    xm[0, 0] = torch.tensor([0.5, 1.5, 2.5, -2.5])      # Round's halves go to even
    export(MathOps(), [xm, torch.randn(2, 3, 4)], "math_ops", ["x", "y"], ["unary", "binary", "reduce"])
    attrs_model()
    bad_model()


if __name__ == "__main__":
    main()
