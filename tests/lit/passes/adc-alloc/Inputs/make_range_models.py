#!/usr/bin/python3
"""Generates the inputs of tests/lit/passes/adc-alloc/range.test.

Run with Debian's /usr/bin/python3 (onnx 1.12, numpy); the outputs are
committed next to this script, so the test never needs Python.

gemm20x3.onnx: y = x W + b, x of shape [1, 20], W a fixed 20 x 3 pattern with
both signs (the ADC's reach depends on the rows and the bits alone, not on the
values); signed20.npz: 8 inputs in [-1, 1] (x: float32 8 x 20, y: labels), so
that the layer's codes are signed.
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    w = (np.arange(60, dtype=np.float32).reshape(20, 3) % 7 - 3) / 4
    b = np.array([0.5, -0.25, 0.0], dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w", "b"], ["y"])],
        "gemm20x3",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 20])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="make_range_models.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(HERE, "gemm20x3.onnx"))
    rng = np.random.RandomState(0)
    x = rng.uniform(-1, 1, size=(8, 20)).astype(np.float32)
    np.savez(os.path.join(HERE, "signed20.npz"), x=x, y=np.zeros(8, dtype=np.int64))


if __name__ == "__main__":
    main()
