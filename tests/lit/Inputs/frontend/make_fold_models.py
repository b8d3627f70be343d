#!/usr/bin/python3
"""Models whose constant subgraphs xbarc computes at import (frontend/onnx_fold.c),
for tests/lit/frontend/fold.test.

Run with Debian's /usr/bin/python3 (onnx, numpy); the outputs are committed next
to this script.  Each fold_*.onnx adds to its float input x a float tensor that
the graph computes from constants only (integer, boolean, float16 and double
tensors among them); fold_*_x.npy is an input and fold_*_y.npy the output numpy
computes for it from the operator definitions, independently of xbarc.
foldbad_*.onnx are broken on purpose, one way each.
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL


def const(name, array):
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(array), name))


def save(name, nodes, x_shape, y_shape, inits=(), opset=14):
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", F, x_shape)],
                              [helper.make_tensor_value_info("y", F, y_shape)], initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="make_fold_models.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    with open(os.path.join(HERE, name + ".onnx"), "wb") as f:
        f.write(model.SerializeToString())


def save_case(name, nodes, x, y, inits=(), opset=14):
    save(name, nodes, list(x.shape), list(y.shape), inits, opset)
    np.save(os.path.join(HERE, name + "_x.npy"), x.astype(np.float32))
    np.save(os.path.join(HERE, name + "_y.npy"), y.astype(np.float32))


def main():
    rng = np.random.default_rng(11)

    # Slice with negative steps and clamped bounds, Gather with negative
    # indices, Concat, Cast to float: on int64 data.
    data = np.arange(24, dtype=np.int64).reshape(4, 6) - 7
    sliced = data[3:0:-2, ::-2]                    # starts 9, ends -100 clamp; steps -2
    gathered = np.take(sliced, [-1, 0], axis=1)    # 2 x 2
    cat = np.concatenate([gathered, gathered * 3], axis=0)    # 4 x 2
    x = rng.standard_normal((4, 2)).astype(np.float32)
    save_case("fold_slice_gather", [
        const("data", data), const("starts", np.array([9, -1], np.int64)),
        const("ends", np.array([0, -100], np.int64)), const("axes", np.array([0, 1], np.int64)),
        const("steps", np.array([-2, -2], np.int64)),
        helper.make_node("Slice", ["data", "starts", "ends", "axes", "steps"], ["s"]),
        const("idx", np.array([-1, 0], np.int64)),
        helper.make_node("Gather", ["s", "idx"], ["g"], axis=1),
        const("three", np.array(3, np.int64)),
        helper.make_node("Mul", ["g", "three"], ["g3"]),
        helper.make_node("Concat", ["g", "g3"], ["c"], axis=0),
        helper.make_node("Cast", ["c"], ["cf"], to=F),
        helper.make_node("Add", ["x", "cf"], ["y"])], x, x + cat.astype(np.float32))

    # Range (int and float), Cast float -> int truncating toward zero, Where
    # with broadcasting, Equal, Not, Less, Greater, Or, And, integer Div (truncating).
    ints = np.arange(10, -3, -4, dtype=np.int64)                       # [10, 6, 2, -2]
    floats = np.arange(-1.5, 2.0, 0.75, dtype=np.float32)[:4]          # [-1.5, -0.75, 0, 0.75]
    truncated = np.trunc(floats * 3).astype(np.int64)                  # [-4, -2, 0, 2]
    quotient = (np.abs(ints) // 3) * np.sign(ints)                     # truncating: [3, 2, 0, 0]
    mask = np.logical_or(np.logical_and(ints > 0, truncated < 0), np.logical_not(truncated == 0))
    chosen = np.where(mask, quotient, np.int64(-9))
    x = rng.standard_normal((2, 4)).astype(np.float32)
    save_case("fold_range_where", [
        const("i0", np.array(10, np.int64)), const("i1", np.array(-3, np.int64)), const("id", np.array(-4, np.int64)),
        helper.make_node("Range", ["i0", "i1", "id"], ["ints"]),
        const("f0", np.array(-1.5, np.float32)), const("f1", np.array(1.5, np.float32)),
        const("fd", np.array(0.75, np.float32)),
        helper.make_node("Range", ["f0", "f1", "fd"], ["floats"]),
        const("three_f", np.array(3, np.float32)),
        helper.make_node("Mul", ["floats", "three_f"], ["f3"]),
        helper.make_node("Cast", ["f3"], ["trunc"], to=I64),
        const("three", np.array(3, np.int64)),
        helper.make_node("Div", ["ints", "three"], ["quot"]),
        const("zero", np.array(0, np.int64)),
        helper.make_node("Greater", ["ints", "zero"], ["pos"]),
        helper.make_node("Less", ["trunc", "zero"], ["neg"]),
        helper.make_node("And", ["pos", "neg"], ["both"]),
        helper.make_node("Equal", ["trunc", "zero"], ["is0"]),
        helper.make_node("Not", ["is0"], ["not0"]),
        helper.make_node("Or", ["both", "not0"], ["mask"]),
        const("minus9", np.array([-9], np.int64)),
        helper.make_node("Where", ["mask", "quot", "minus9"], ["w"]),
        helper.make_node("Cast", ["w"], ["wf"], to=F),
        helper.make_node("Add", ["x", "wf"], ["y"])], x, x + chosen.astype(np.float32))

    # ConstantOfShape, Expand, Shape of the input (start/end), Size, Squeeze,
    # Unsqueeze and Reshape of known data; float16 and double initializers.
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    half = rng.standard_normal((3, 1)).astype(np.float16)
    double = rng.standard_normal((4,)).astype(np.float64)
    shape_of_x = np.array(x.shape[1:], np.int64)                        # Shape start=1: [3, 4]
    filled = np.full(shape_of_x, 2.5, np.float32) * x.size             # Size = 24
    expanded = np.broadcast_to(half.astype(np.float32), (3, 4)) + double.astype(np.float32)
    save_case("fold_shapes", [
        helper.make_node("Shape", ["x"], ["shape"], start=1),
        helper.make_node("ConstantOfShape", ["shape"], ["filled"],
                         value=numpy_helper.from_array(np.array([2.5], np.float32))),
        helper.make_node("Size", ["x"], ["size"]),
        helper.make_node("Cast", ["size"], ["size_f"], to=F),
        helper.make_node("Mul", ["filled", "size_f"], ["f"]),
        helper.make_node("Expand", ["half", "shape"], ["e16"]),
        helper.make_node("Cast", ["e16"], ["e"], to=F),
        helper.make_node("Cast", ["double"], ["d"], to=F),
        helper.make_node("Add", ["e", "d"], ["ed"]),
        const("axes0", np.array([0], np.int64)),
        helper.make_node("Unsqueeze", ["ed", "axes0"], ["u"]),
        helper.make_node("Squeeze", ["u", "axes0"], ["sq"]),
        const("flat", np.array([-1], np.int64)),
        helper.make_node("Reshape", ["sq", "flat"], ["r"]),
        helper.make_node("Reshape", ["r", "shape"], ["back"]),
        helper.make_node("Add", ["f", "back"], ["fb"]),
        helper.make_node("Add", ["x", "fb"], ["y"])], x, x + (filled + expanded),
        inits=[numpy_helper.from_array(half, "half"), numpy_helper.from_array(double, "double")], opset=15)

    # On values computed at run time: Gather of a scalar and of a 2-D list of
    # indices (crops), Slice with unit steps (a crop), Expand (times ones).
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    t = np.take(x, 1, axis=1)[:, None, None, :] + np.take(x, [[4, 0], [-1, 2]], axis=1)    # 2 x 2 x 2 x 3
    u = t[:, :, 0:1, :] + x[:, 1:4, :]                                                     # 2 x 2 x 3 x 3
    save_case("fold_values", [
        const("one", np.array(1, np.int64)),
        helper.make_node("Gather", ["x", "one"], ["picked"], axis=1),
        const("list", np.array([[4, 0], [-1, 2]], np.int64)),
        helper.make_node("Gather", ["x", "list"], ["listed"], axis=1),
        const("ax12", np.array([1, 2], np.int64)),
        helper.make_node("Unsqueeze", ["picked", "ax12"], ["p4"]),
        helper.make_node("Add", ["p4", "listed"], ["t"]),
        const("s0", np.array([0], np.int64)), const("e1", np.array([1], np.int64)), const("a2", np.array([2], np.int64)),
        helper.make_node("Slice", ["t", "s0", "e1", "a2"], ["t2"]),
        const("s1", np.array([1], np.int64)), const("e4", np.array([4], np.int64)), const("a1", np.array([1], np.int64)),
        helper.make_node("Slice", ["x", "s1", "e4", "a1"], ["sliced"]),
        helper.make_node("Add", ["t2", "sliced"], ["u"]),
        const("big", np.array([3, 1, 1, 1, 1], np.int64)),
        helper.make_node("Expand", ["u", "big"], ["y"])], x, np.broadcast_to(u, (3, 2, 2, 3, 3)))

    # Transpose of int64 data: with a perm, and without (the axes reversed);
    # and torch's F.pad export, its pads reversed through a Transpose.
    data = np.arange(24, dtype=np.int64).reshape(2, 3, 4) - 5
    pads = np.array([[0, 0], [1, 2], [0, 1]], np.int64)    # (begin, end) per axis: ONNX's order transposed
    x = rng.standard_normal((4, 2, 3)).astype(np.float32)
    save_case("fold_transpose", [
        const("data", data),
        helper.make_node("Transpose", ["data"], ["t"], perm=[2, 0, 1]),
        helper.make_node("Transpose", ["t"], ["r"]),
        helper.make_node("Transpose", ["r"], ["back"]),
        helper.make_node("Cast", ["back"], ["tf"], to=F),
        helper.make_node("Add", ["x", "tf"], ["u"]),
        const("pads", pads),
        helper.make_node("Transpose", ["pads"], ["pt"], perm=[1, 0]),
        const("flat", np.array([-1], np.int64)),
        helper.make_node("Reshape", ["pt", "flat"], ["pf"]),
        helper.make_node("Pad", ["u", "pf"], ["padded"]),
        const("zero", np.array([0, 0, 0], np.int64)), const("end", np.array([4, 2, 3], np.int64)),
        helper.make_node("Slice", ["padded", "zero", "end"], ["y"])],
        x, np.pad(x + data.transpose(2, 0, 1), [(0, 0), (1, 2), (0, 1)])[:, :2, :3])

    # ONNX's LayerNormalization function body negates an int64 axis count
    # (known at import): the Neg is computed there and becomes the axes.
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    save_case("fold_neg", [
        const("k", np.array([1], np.int64)),
        helper.make_node("Neg", ["k"], ["nk"]),
        helper.make_node("ReduceSum", ["x", "nk"], ["s"], keepdims=1),
        helper.make_node("Sub", ["x", "s"], ["y"])],
        x, x - x.sum(axis=-1, keepdims=True))

    # ScatterND as torchvision's Swin writes its window masks (zeros from
    # ConstantOfShape, a block set through negative indices), ScatterND
    # adding at duplicate indices, ScatterElements multiplying along axis 1,
    # Mod of int64 with mixed signs (the divisor's sign, then fmod's C sign):
    # all cast to float, flattened and concatenated (opset 16, reductions).
    mask = np.zeros((6, 6), np.float32)
    mask[-2:, :3] = np.arange(1, 7, dtype=np.float32).reshape(2, 3)
    rows, cols = np.meshgrid([-2, -1], [0, 1, 2], indexing="ij")
    block = np.stack([rows, cols], axis=-1).astype(np.int64)            # 2 x 3 x 2
    added = np.zeros(4, np.int64)
    np.add.at(added, [1, 1, -1], [5, 7, 2])
    scaled = np.ones((2, 3), np.float32)
    picks, factors = np.array([[2, 0], [-1, 1]], np.int64), np.array([[2, 3], [4, 5]], np.float32)
    for r in range(2):
        for c in range(2):
            scaled[r, picks[r, c]] *= factors[r, c]
    a, b = np.array([-7, 7, -7, 7], np.int64), np.array([3, -3, -3, 3], np.int64)
    parts = [mask.ravel(), added.astype(np.float32), scaled.ravel(), np.mod(a, b).astype(np.float32),
             np.fmod(a, b).astype(np.float32)]
    x = rng.standard_normal(sum(p.size for p in parts)).astype(np.float32)
    save_case("fold_scatter", [
        const("shape", np.array([6, 6], np.int64)),
        helper.make_node("ConstantOfShape", ["shape"], ["zeros"], value=numpy_helper.from_array(np.zeros(1, np.float32))),
        const("block", block), const("values", np.arange(1, 7, dtype=np.float32).reshape(2, 3)),
        helper.make_node("ScatterND", ["zeros", "block", "values"], ["mask"]),
        const("flat", np.array([-1], np.int64)),
        helper.make_node("Reshape", ["mask", "flat"], ["mask_flat"]),
        const("counts", np.zeros(4, np.int64)), const("at", np.array([[1], [1], [-1]], np.int64)),
        const("adds", np.array([5, 7, 2], np.int64)),
        helper.make_node("ScatterND", ["counts", "at", "adds"], ["added"], reduction="add"),
        helper.make_node("Cast", ["added"], ["added_f"], to=F),
        const("ones", np.ones((2, 3), np.float32)), const("picks", picks), const("factors", factors),
        helper.make_node("ScatterElements", ["ones", "picks", "factors"], ["scaled"], axis=1, reduction="mul"),
        helper.make_node("Reshape", ["scaled", "flat"], ["scaled_flat"]),
        const("a", a), const("b", b),
        helper.make_node("Mod", ["a", "b"], ["mod"]),
        helper.make_node("Mod", ["a", "b"], ["fmod"], fmod=1),
        helper.make_node("Cast", ["mod"], ["mod_f"], to=F),
        helper.make_node("Cast", ["fmod"], ["fmod_f"], to=F),
        helper.make_node("Concat", ["mask_flat", "added_f", "scaled_flat", "mod_f", "fmod_f"], ["all"], axis=0),
        helper.make_node("Add", ["x", "all"], ["y"])],
        x, x + np.concatenate(parts), opset=16)

    # Broken, one way each: an index out of range, a division by zero, an
    # int64 overflow, Range with delta 0, ConstantOfShape absurdly large,
    # Where of a run-time value, Slice with a step on a run-time value, a
    # Transpose whose perm is not a permutation.
    def bad(name, nodes):
        save(name, nodes, [2, 3], [2, 3])
    bad("foldbad_gather", [const("d", np.arange(3, dtype=np.int64)), const("i", np.array([3], np.int64)),
                           helper.make_node("Gather", ["d", "i"], ["g"], name="gather_oob"),
                           helper.make_node("Relu", ["x"], ["y"])])
    bad("foldbad_div", [const("a", np.array([6], np.int64)), const("z", np.array([0], np.int64)),
                        helper.make_node("Div", ["a", "z"], ["q"], name="div_zero"),
                        helper.make_node("Relu", ["x"], ["y"])])
    bad("foldbad_overflow", [const("a", np.array([1 << 62], np.int64)), const("k", np.array([4], np.int64)),
                             helper.make_node("Mul", ["a", "k"], ["m"], name="mul_big"),
                             helper.make_node("Relu", ["x"], ["y"])])
    bad("foldbad_range", [const("s", np.array(0, np.int64)), const("l", np.array(5, np.int64)),
                          const("d", np.array(0, np.int64)),
                          helper.make_node("Range", ["s", "l", "d"], ["r"], name="range_zero"),
                          helper.make_node("Relu", ["x"], ["y"])])
    bad("foldbad_range_types", [const("s", np.array(0, np.int64)), const("l", np.array(5.0, np.float32)),
                                const("d", np.array(1, np.int64)),
                                helper.make_node("Range", ["s", "l", "d"], ["r"], name="range_mixed"),
                                helper.make_node("Relu", ["x"], ["y"])])
    bad("foldbad_constantofshape", [const("shape", np.array([1 << 20, 1 << 20, 1 << 20], np.int64)),
                                    helper.make_node("ConstantOfShape", ["shape"], ["c"], name="huge"),
                                    helper.make_node("Relu", ["x"], ["y"])])
    bad("foldbad_where", [const("m", np.array([True, False, True])),
                          helper.make_node("Where", ["m", "x", "x"], ["y"], name="where_x")])
    bad("foldbad_neg", [const("a", np.array([-(1 << 63)], np.int64)),
                        helper.make_node("Neg", ["a"], ["n"], name="neg_min"),
                        helper.make_node("Relu", ["x"], ["y"])])
    bad("foldbad_scatternd", [const("d", np.zeros(3, np.int64)), const("i", np.array([[1], [3]], np.int64)),
                              const("u", np.array([4, 5], np.int64)),
                              helper.make_node("ScatterND", ["d", "i", "u"], ["s"], name="scatter_oob"),
                              helper.make_node("Relu", ["x"], ["y"])])
    bad("foldbad_scatter_updates", [const("d", np.zeros((2, 3), np.float32)),
                                    const("i", np.array([[0], [1]], np.int64)),
                                    const("u", np.zeros((2, 2), np.float32)),
                                    helper.make_node("ScatterND", ["d", "i", "u"], ["s"], name="scatter_dims"),
                                    helper.make_node("Relu", ["x"], ["y"])])
    bad("foldbad_mod", [const("a", np.array([6], np.int64)), const("z", np.array([0], np.int64)),
                        helper.make_node("Mod", ["a", "z"], ["m"], name="mod_zero"),
                        helper.make_node("Relu", ["x"], ["y"])])
    bad("foldbad_transpose", [const("d", np.zeros((2, 3), np.int64)),
                              helper.make_node("Transpose", ["d"], ["t"], name="perm_twice", perm=[1, 1]),
                              helper.make_node("Relu", ["x"], ["y"])])


if __name__ == "__main__":
    main()
