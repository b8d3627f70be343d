#!/usr/bin/python3
"""Generates the small ONNX files the frontend lit tests import.

Run from anywhere with /usr/bin/python3 (onnx 1.12); the outputs are committed
next to this script, so the tests never need Python.  Most models are broken on
purpose, each in one way (bad_*.onnx); a few are valid and exercise lowering
rules (ok_*.onnx).  The valid models of old opsets (ok_legacy_*.onnx) come with
an input and the output numpy computes for it from the operator definitions of
those opsets (ok_legacy_*_x.pb, ok_legacy_*_y.pb).
"""
import gzip
import os
import struct

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
    save("bad_opset0.onnx", model(relu, [vi("x", [2])], [vi("y", [2])], opset=0))
    save("bad_opset18.onnx", model(relu, [vi("x", [2])], [vi("y", [2])], opset=18))
    save("bad_ir_version.onnx", model(relu, [vi("x", [2])], [vi("y", [2])], ir=2))

    # Every unsupported operator in one message: DFT once, RoiAlign twice.
    save("bad_unsupported.onnx", model(
        [helper.make_node("Relu", ["x"], ["a"], name="relu_0"),
         helper.make_node("RoiAlign", ["a", "scales"], ["b"], name="roi_1"),
         helper.make_node("DFT", ["b"], ["c"], name="dft_1"),
         helper.make_node("RoiAlign", ["c", "scales"], ["y"], name="roi_2")],
        [vi("x", [1, 2, 4, 4])], [vi("y", None)],
        [numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")]))

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

    # A symbolic dimension other than the batch (which is taken as 1), and
    # a symbolic batch dimension, one named and one unnamed.
    save("bad_symbolic.onnx", model(relu, [vi("x", [2, "C"])], [vi("y", [2, "C"])]))
    save("ok_symbolic_batch.onnx", model(relu, [vi("x", ["N", 3])], [vi("y", ["N", 3])]))
    save("ok_unknown_batch.onnx", model(relu, [vi("x", [None, 3])], [vi("y", [None, 3])]))

    # Element types: an int8 input.
    save("bad_int8_input.onnx", model(relu, [vi("x", [2], TensorProto.INT8)], [vi("y", [2], TensorProto.INT8)]))

    # The declared output shape disagrees with what the graph computes.
    save("bad_output_shape.onnx", model(relu, [vi("x", [2, 3])], [vi("y", [3, 2])]))

    # Reshape's shape computed at run time (a graph input).
    save("bad_reshape_dynamic.onnx", model(
        [helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape_dyn")],
        [vi("x", [2, 3]), vi("shape", [2])], [vi("y", None)]))

    # Pad in reflect mode beyond the axis (of size 1).
    save("bad_pad_reflect.onnx", model(
        [helper.make_node("Pad", ["x", "pads"], ["y"], name="pad_reflect", mode="reflect")],
        [vi("x", [1, 3])], [vi("y", None)],
        [numpy_helper.from_array(np.array([1, 0, 1, 0], np.int64), "pads")]))

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

    legacy_models()
    hostile_inputs()


def tensor_file(name, array):
    save(name, numpy_helper.from_array(np.asarray(array, np.float32), "").SerializeToString())


def legacy_model(nodes, inputs, outputs, inits, opset):
    """IR version 3, where every initializer is also a graph input."""
    inputs = inputs + [vi(t.name, list(t.dims), t.data_type) for t in inits]
    return model(nodes, inputs, outputs, inits, opset=opset, ir=3)


def legacy_models():
    """Old opsets: what onnx_legacy.c rewrites, with numpy references."""
    rng = np.random.default_rng(6)
    f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)

    # Opset 6: Add/Mul/Sub-6 legacy broadcast (at axis 1, by suffix, one
    # element), Div-6 without broadcast, BatchNormalization-6 and Dropout-6 in
    # test mode, Clip-6 with its default max, Concat-4, Reshape-5, Gemm-6 with
    # an N-vector C.
    x = f32(2, 3, 4, 5)
    b34, w5, s1 = f32(3, 4), f32(5), f32(1)
    scale, bias, mean = f32(3), f32(3), f32(3)
    var = (rng.random(3) + 0.5).astype(np.float32)
    den = (rng.random((2, 3, 4, 5)) + 1).astype(np.float32)
    gw, gc = f32(7, 120), f32(7)
    inits = {"b34": b34, "w5": w5, "s1": s1, "scale": scale, "bias": bias, "mean": mean, "var": var,
             "den": den, "gw": gw, "gc": gc}
    save("ok_legacy_opset6.onnx", legacy_model(
        [helper.make_node("Add", ["x", "b34"], ["a"], name="add6", broadcast=1, axis=1),
         helper.make_node("Mul", ["a", "w5"], ["m"], name="mul6", broadcast=1),
         helper.make_node("Sub", ["m", "s1"], ["s"], name="sub6", broadcast=1),
         helper.make_node("BatchNormalization", ["s", "scale", "bias", "mean", "var"], ["bn"], name="bn6",
                          is_test=1, epsilon=1e-3, momentum=0.9),
         helper.make_node("Dropout", ["bn"], ["d", "mask"], name="drop6", is_test=1, ratio=0.3),
         helper.make_node("Clip", ["d"], ["c"], name="clip6", min=-1.5),
         helper.make_node("Div", ["c", "den"], ["q"], name="div6"),
         helper.make_node("Concat", ["q", "x"], ["cat"], name="concat4", axis=1),
         helper.make_node("Reshape", ["cat", "shape"], ["r"], name="reshape5"),
         helper.make_node("Gemm", ["r", "gw", "gc"], ["y"], name="gemm6", broadcast=1, transB=1, alpha=0.5)],
        [vi("x", [2, 3, 4, 5])], [vi("y", [2, 7])],
        [numpy_helper.from_array(v, k) for k, v in inits.items()] +
        [numpy_helper.from_array(np.array([2, -1], np.int64), "shape")], opset=6))
    a = x + b34[None, :, :, None]
    s = a * w5 - s1[0]
    c4 = lambda v: v[None, :, None, None]
    bn = c4(scale) * (s - c4(mean)) / np.sqrt(c4(var) + np.float32(1e-3)) + c4(bias)
    q = np.minimum(np.maximum(bn, -1.5), np.finfo(np.float32).max) / den
    r = np.concatenate([q, x], axis=1).reshape(2, 120)
    tensor_file("ok_legacy_opset6_x.pb", x)
    tensor_file("ok_legacy_opset6_y.pb", 0.5 * (r @ gw.T) + gc)

    # Opset 1: BatchNormalization-1, Relu-1, Add-1 and Clip-1 with the
    # consumed_inputs hint; Pad-1 `paddings` that read the same in both of its
    # documented orders; Reshape-1's shape attribute; Softmax-1 (coerced to
    # 2-D at axis 1); Concat-1's default axis 1.
    x = f32(2, 3, 4)
    scale, bias, mean = f32(3), f32(3), f32(3)
    var = (rng.random(3) + 0.5).astype(np.float32)
    bvec = f32(4)
    inits = {"scale": scale, "bias": bias, "mean": mean, "var": var, "bvec": bvec}
    save("ok_legacy_opset1.onnx", legacy_model(
        [helper.make_node("BatchNormalization", ["x", "scale", "bias", "mean", "var"], ["bn"], name="bn1",
                          is_test=1, consumed_inputs=[0, 0, 0, 1, 1]),
         helper.make_node("Relu", ["bn"], ["r1"], name="relu1", consumed_inputs=[0]),
         helper.make_node("Add", ["r1", "bvec"], ["a1"], name="add1", broadcast=1, consumed_inputs=[0]),
         helper.make_node("Pad", ["a1"], ["p"], name="pad1", paddings=[0, 1, 1, 1, 1, 2], value=0.25),
         helper.make_node("Reshape", ["p"], ["sh"], name="reshape1", shape=[3, 0, -1], consumed_inputs=[0]),
         helper.make_node("Softmax", ["sh"], ["sm"], name="softmax1"),
         helper.make_node("Concat", ["sm", "sm"], ["cat"], name="concat1"),
         helper.make_node("Clip", ["cat"], ["y"], name="clip1", min=0.01, max=0.05, consumed_inputs=[0])],
        [vi("x", [2, 3, 4])], [vi("y", [3, 10, 7])],
        [numpy_helper.from_array(v, k) for k, v in inits.items()], opset=1))
    c3 = lambda v: v[None, :, None]
    bn = c3(scale) * (x - c3(mean)) / np.sqrt(c3(var) + np.float32(1e-5)) + c3(bias)
    a1 = np.maximum(bn, 0) + bvec
    p = np.pad(a1, [(0, 1), (1, 1), (1, 2)], constant_values=0.25)      # [3, 5, 7]
    sh = p.reshape(3, 5, 7)
    flat = sh.reshape(3, 35)
    e = np.exp(flat - flat.max(axis=1, keepdims=True))
    sm = (e / e.sum(axis=1, keepdims=True)).reshape(3, 5, 7)
    tensor_file("ok_legacy_opset1_x.pb", x)
    tensor_file("ok_legacy_opset1_y.pb", np.clip(np.concatenate([sm, sm], axis=1), 0.01, 0.05))

    # Old-opset cases that are refused, one a node, none depending on another.
    save("bad_legacy_opset6.onnx", legacy_model(
        [helper.make_node("BatchNormalization", ["x1", "c3", "c3", "c3", "c3"], ["y1"], name="bn_train"),
         helper.make_node("Dropout", ["x2"], ["y2"], name="drop_train", ratio=0.5),
         helper.make_node("MaxPool", ["x3"], ["y3"], name="pool_dilated", kernel_shape=[2, 2], dilations=[2, 2]),
         helper.make_node("Add", ["x4", "b21"], ["y4"], name="add_expand", broadcast=1),
         helper.make_node("Gemm", ["x4", "w34", "b21"], ["y5"], name="gemm_expand", broadcast=1),
         helper.make_node("Relu", ["x4"], ["y6"], name="relu_fine")],
        [vi("x1", [1, 3, 2, 2]), vi("x2", [2, 2]), vi("x3", [1, 1, 6, 6]), vi("x4", [2, 3])],
        [vi(n, None) for n in ("y1", "y2", "y3", "y4", "y5", "y6")],
        [numpy_helper.from_array(np.ones(3, np.float32), "c3"), weights("b21", [2, 1]),
         weights("w34", [3, 4])], opset=6))
    # Pad-1 with paddings whose two documented orders disagree (its own example).
    save("bad_legacy_pad1.onnx", legacy_model(
        [helper.make_node("Pad", ["x"], ["y"], name="pad_ambiguous", paddings=[0, 0, 2, 0])],
        [vi("x", [3, 2])], [vi("y", None)], [], opset=1))


def ints_attr(name, values, floats=False):
    """An INTS (or FLOATS) attribute, empty lists included (helper cannot type those)."""
    a = onnx.AttributeProto(name=name, type=onnx.AttributeProto.FLOATS if floats else onnx.AttributeProto.INTS)
    (a.floats if floats else a.ints).extend(values)
    return a


def node(op, inputs, outputs, name, attrs=()):
    n = helper.make_node(op, inputs, outputs, name=name)
    n.attribute.extend(attrs)
    return n


def idx_gz(name, magic_rank, dims, data):
    """A gzipped IDX file (Fashion-MNIST's format), byte for byte the same every run."""
    raw = struct.pack(">I", 0x800 | magic_rank) + b"".join(struct.pack(">I", d) for d in dims) + bytes(data)
    os.makedirs(os.path.dirname(os.path.join(HERE, name)), exist_ok=True)
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(gzip.compress(raw, mtime=0))


def hostile_inputs():
    """Sizes that once overflowed, divided by zero or took memory before checking (issue 9)."""
    big = 1 << 40
    # Reshape to [2^40, 2^40, -1]: the product of the known dims overflowed.
    save("bad_reshape_overflow.onnx", model(
        [helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape_huge")],
        [vi("x", [2, 3])], [vi("y", None)],
        [numpy_helper.from_array(np.array([big, big, -1], np.int64), "shape")]))
    # Window parameters near 2^63, one node each (none depends on another).
    top = (1 << 63) - 1
    save("bad_window_overflow.onnx", model(
        [node("MaxPool", ["x"], ["y0"], "pool_pads", [ints_attr("kernel_shape", [2, 2]),
                                                      ints_attr("pads", [top, 0, 0, 0])]),
         node("MaxPool", ["x"], ["y1"], "pool_dilations", [ints_attr("kernel_shape", [2, 2]),
                                                           ints_attr("dilations", [1 << 62, 1])]),
         node("Conv", ["x", "w"], ["y2"], "conv_same_strides", [ints_attr("strides", [top, 1]),
                                                                helper.make_attribute("auto_pad", "SAME_UPPER")]),
         node("AveragePool", ["x"], ["y3"], "avg_kernel", [ints_attr("kernel_shape", [top, 1])]),
         node("Pad", ["x", "pads"], ["y4"], "pad_huge")],
        [vi("x", [1, 1, 4, 4])], [vi(n, None) for n in ("y0", "y1", "y2", "y3", "y4")],
        [weights("w", [1, 1, 1, 1]), numpy_helper.from_array(np.array([0, 0, top, 0, 0, 0, 1, 0], np.int64), "pads")]))
    # Empty INTS and FLOATS attributes: valid, and once memcpy(NULL, 0).
    save("ok_empty_lists.onnx", model(
        [node("Squeeze", ["x"], ["s"], "squeeze_empty", [ints_attr("axes", [])]),
         node("Relu", ["s"], ["y"], "relu_lists", [ints_attr("unused_ints", []), ints_attr("unused_floats", [], True)])],
        [vi("x", [2, 3])], [vi("y", [2, 3])], opset=11))
    # 2^32 elements declared, no data: checked before memory is taken (an
    # 80-byte model, a 10-byte tensor file).
    save("bad_nodata_init.onnx", model(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], [vi("x", [1, 65536])], [vi("y", None)],
        [TensorProto(name="w", data_type=F, dims=[65536, 65536])]))
    save("bad_nodata_tensor.pb", TensorProto(data_type=F, dims=[65536, 65536]).SerializeToString())
    # A legal input of 2^32 elements: importing costs nothing, running it
    # more than the memory limit of the tests.
    save("big_input.onnx", model(
        [helper.make_node("Conv", ["x", "w"], ["y"], name="conv_big")],
        [vi("x", [1, 1, 65536, 65536])], [vi("y", [1, 1, 65536, 65536])], [weights("w", [1, 1, 1, 1])]))
    # Node names longer than any fixed buffer, with characters XML escapes
    # six times over: a message names the node in full, and the tile map
    # (each block titled by its layer) is drawn whole.
    long_name = '"<&' * 700
    save("bad_long_name.onnx", model(
        [helper.make_node("Conv", ["x", "w"], ["y"], name=long_name)],
        [vi("x", [1, 3, 8, 8])], [vi("y", None)], [weights("w", [4, 6, 3, 3])]))
    save("ok_long_name.onnx", model(
        [helper.make_node("MatMul", ["x", "w1"], ["h"], name=long_name),
         helper.make_node("MatMul", ["h", "w2"], ["y"], name="short")],
        [vi("x", [1, 300])], [vi("y", [1, 4])], [weights("w1", [300, 8]), weights("w2", [8, 4])]))
    # Fashion-MNIST files: no images; a label that is no class.
    idx_gz("fmnist_empty/t10k-images-idx3-ubyte.gz", 3, [0, 28, 28], b"")
    idx_gz("fmnist_empty/t10k-labels-idx1-ubyte.gz", 1, [0], b"")
    idx_gz("fmnist_label255/t10k-images-idx3-ubyte.gz", 3, [2, 28, 28], bytes(2 * 28 * 28))
    idx_gz("fmnist_label255/t10k-labels-idx1-ubyte.gz", 1, [2], bytes([3, 255]))


if __name__ == "__main__":
    main()
