#!/usr/bin/python3
"""Generates the small ONNX files the frontend lit tests import.

Run from anywhere with /usr/bin/python3 (onnx 1.12); the outputs are committed
next to this script, so the tests never need Python.  Most models are broken on
purpose, each in one way (bad_*.onnx); a few are valid and exercise lowering
rules (ok_*.onnx).
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
F = TensorProto.FLOAT


def save(name, model_or_bytes):
    path = os.path.join(HERE, name)
    data = model_or_bytes if isinstance(model_or_bytes, bytes) else model_or_bytes.SerializeToString()
    with open(path, "wb") as f:
        f.write(data)


def model(nodes, inputs, outputs, inits=(), opset=13, ir=8, value_info=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits), value_info=list(value_info))
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="make_bad_models.py")
    m.ir_version = ir
    return m


def vi(name, shape, elem=F):
    return helper.make_tensor_value_info(name, elem, shape)


def weights(name, shape, seed=0):
    rng = np.random.default_rng(seed)
    return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)


def conv_model():
    """A valid conv -> relu model with a weight big enough to truncate."""
    return model(
        [helper.make_node("Conv", ["x", "w"], ["c"], name="conv0", pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c"], ["y"], name="relu0")],
        [vi("x", [1, 3, 8, 8])], [vi("y", [1, 4, 8, 8])], [weights("w", [4, 3, 3, 3])])


def main():
    # Not ONNX at all.
    save("bad_empty.onnx", b"")
    save("bad_text.onnx", b"This is a text file, not an ONNX model.\n")
    save("bad_truncated.onnx", conv_model().SerializeToString()[:100])

    # Versions.
    relu = [helper.make_node("Relu", ["x"], ["y"], name="r")]
    save("bad_opset6.onnx", model(relu, [vi("x", [2])], [vi("y", [2])], opset=6))
    save("bad_opset18.onnx", model(relu, [vi("x", [2])], [vi("y", [2])], opset=18))
    save("bad_ir_version.onnx", model(relu, [vi("x", [2])], [vi("y", [2])], ir=2))

    # Every unsupported operator in one message: LSTM once, Resize twice.
    save("bad_unsupported.onnx", model(
        [helper.make_node("Relu", ["x"], ["a"], name="relu_0"),
         helper.make_node("Resize", ["a", "", "scales"], ["b"], name="resize_1"),
         helper.make_node("LSTM", ["b", "W", "R"], ["c"], name="lstm_1", hidden_size=2),
         helper.make_node("Resize", ["c", "", "scales"], ["y"], name="resize_2")],
        [vi("x", [1, 2, 4, 4])], [vi("y", None)],
        [numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
         weights("W", [1, 8, 4]), weights("R", [1, 8, 2])]))

    # A node input nothing defines.
    save("bad_missing_init.onnx", model(
        [helper.make_node("Conv", ["x", "w_missing"], ["y"], name="conv_a")],
        [vi("x", [1, 3, 8, 8])], [vi("y", [1, 4, 6, 6])]))

    # Conv channels: input has 3, the weight expects 6.
    save("bad_conv_channels.onnx", model(
        [helper.make_node("Conv", ["x", "w"], ["y"], name="conv_bad")],
        [vi("x", [1, 3, 8, 8])], [vi("y", [1, 4, 6, 6])], [weights("w", [4, 6, 3, 3])]))

    # Weights in an external file.
    ext = TensorProto(name="w_ext", data_type=F, dims=[4, 3, 3, 3])
    ext.data_location = TensorProto.EXTERNAL
    ext.external_data.add(key="location", value="weights.bin")
    save("bad_external.onnx", model(
        [helper.make_node("Conv", ["x", "w_ext"], ["y"], name="conv_ext")],
        [vi("x", [1, 3, 8, 8])], [vi("y", [1, 4, 6, 6])], [ext]))

    # Raw data of the wrong size.
    short = TensorProto(name="w_short", data_type=F, dims=[4, 3, 3, 3], raw_data=np.zeros(10, np.float32).tobytes())
    save("bad_raw_size.onnx", model(
        [helper.make_node("Conv", ["x", "w_short"], ["y"], name="conv_short")],
        [vi("x", [1, 3, 8, 8])], [vi("y", [1, 4, 6, 6])], [short]))

    # Absurd sizes: an input of 10^15 elements, an initializer of 2^40 by 2^40.
    save("bad_absurd_input.onnx", model(relu, [vi("x", [100000, 100000, 100000])], [vi("y", None)]))
    huge = TensorProto(name="w_huge", data_type=F, dims=[1 << 40, 1 << 40])
    save("bad_absurd_init.onnx", model(
        [helper.make_node("MatMul", ["x", "w_huge"], ["y"], name="mm")],
        [vi("x", [1, 4])], [vi("y", None)], [huge]))

    # A symbolic batch dimension.
    save("bad_symbolic.onnx", model(relu, [vi("x", ["N", 3])], [vi("y", ["N", 3])]))

    # Element types: an int8 input.
    save("bad_int8_input.onnx", model(relu, [vi("x", [2], TensorProto.INT8)], [vi("y", [2], TensorProto.INT8)]))

    # The declared output shape disagrees with what the graph computes.
    save("bad_output_shape.onnx", model(relu, [vi("x", [2, 3])], [vi("y", [3, 2])]))

    # Reshape's shape computed at run time (a graph input).
    save("bad_reshape_dynamic.onnx", model(
        [helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape_dyn")],
        [vi("x", [2, 3]), vi("shape", [2])], [vi("y", None)]))

    # Pad in reflect mode.
    save("bad_pad_reflect.onnx", model(
        [helper.make_node("Pad", ["x", "pads"], ["y"], name="pad_reflect", mode="reflect")],
        [vi("x", [1, 3])], [vi("y", None)],
        [numpy_helper.from_array(np.array([0, 1, 0, 1], np.int64), "pads")]))

    # MaxPool's Indices output used downstream.
    save("bad_maxpool_indices.onnx", model(
        [helper.make_node("MaxPool", ["x"], ["y", "idx"], name="pool_idx", kernel_shape=[2, 2])],
        [vi("x", [1, 1, 4, 4])], [vi("y", None), vi("idx", None, TensorProto.INT64)]))

    # Two independent errors: both are reported, their users are not.
    save("bad_two_errors.onnx", model(
        [helper.make_node("Conv", ["x", "w"], ["c"], name="conv_first"),
         helper.make_node("Relu", ["c"], ["r"], name="relu_after"),
         helper.make_node("Add", ["x2", "b"], ["y"], name="add_second")],
        [vi("x", [1, 3, 8, 8]), vi("x2", [2, 3])], [vi("r", None), vi("y", None)],
        [weights("w", [4, 6, 3, 3]), weights("b", [4])]))

    # ---- valid models: lowering rules ----
    save("ok_conv_relu.onnx", conv_model())

    # Softmax before opset 13 coerces to 2-D at `axis`.
    save("ok_softmax_opset11.onnx", model(
        [helper.make_node("Softmax", ["x"], ["y"], name="sm", axis=1)],
        [vi("x", [2, 3, 4])], [vi("y", [2, 3, 4])], opset=11))

    # Reshape with 0 and -1, its shape from a Constant node; Squeeze/Unsqueeze
    # with negative axes from inputs (opset 13); Clip with a constant min only;
    # an initializer also listed as a graph input (old IR style) is a constant.
    save("ok_params.onnx", model(
        [helper.make_node("Constant", [], ["shape"], name="shape_const",
                          value=numpy_helper.from_array(np.array([0, -1, 1], np.int64))),
         helper.make_node("Reshape", ["x", "shape"], ["r"], name="reshape0"),
         helper.make_node("Squeeze", ["r", "sq_axes"], ["s"], name="squeeze0"),
         helper.make_node("Unsqueeze", ["s", "sq_axes"], ["u"], name="unsqueeze0"),
         helper.make_node("Clip", ["u", "lo", ""], ["c"], name="clip0"),
         helper.make_node("Add", ["c", "bias"], ["y"], name="add0")],
        [vi("x", [2, 3, 4]), vi("bias", [1])], [vi("y", [2, 12, 1])],
        [numpy_helper.from_array(np.array([-1], np.int64), "sq_axes"),
         numpy_helper.from_array(np.array(0.5, np.float32), "lo"),
         numpy_helper.from_array(np.array([1.0], np.float32), "bias")]))

    # auto_pad SAME_LOWER with stride 2 and an odd total padding.
    save("ok_same_lower.onnx", model(
        [helper.make_node("MaxPool", ["x"], ["y"], name="pool_same", kernel_shape=[3, 3], strides=[2, 2],
                          auto_pad="SAME_LOWER")],
        [vi("x", [1, 1, 6, 6])], [vi("y", [1, 1, 3, 3])]))


if __name__ == "__main__":
    main()
