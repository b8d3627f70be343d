#!/usr/bin/python3
"""Check the exported models against their reference data, independently of torch.

onnx 1.12 has no onnx.reference and onnxruntime is not installed, so this runs
each graph with a small numpy interpreter of the ops the models use (Conv,
BatchNormalization, Relu, MaxPool, AveragePool, Flatten, Reshape, Gemm).
It checks:
  * onnx.checker (full_check), opset 13, static shapes, names input/logits;
  * lenet5.onnx still contains BatchNormalization nodes;
  * test_data_set_K: .pb and .npy hold identical tensors with the right
    names, and the interpreter's output matches output_0 (tolerance 1e-4);
  * the interpreter's accuracy over the whole test set equals the
    recorded *.accuracy line (argmax may flip on near-ties, so within 0.1%).
Exit status is non-zero on any failure.
"""
import glob
import gzip
import os
import re
import sys

import numpy as np
import onnx
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
FASHION = "/usr/share/datasets/fashion-mnist"
failures = []


passes = []


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg)
    (passes if cond else failures).append(msg)


# ---------------------------------------------------------------- interpreter
def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def pad_nchw(x, pads, value=0.0):
    h0, w0, h1, w1 = pads
    return np.pad(x, ((0, 0), (0, 0), (h0, h1), (w0, w1)), constant_values=value)


def windows(x, kh, kw, sh, sw):
    """x [N,C,H,W] -> [N,C,OH,OW,kh,kw] view of the sliding windows."""
    v = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))
    return v[:, :, ::sh, ::sw]


def op_conv(a, x, w, b=None):
    assert a.get("group", 1) == 1 and list(a.get("dilations", [1, 1])) == [1, 1]
    kh, kw = w.shape[2:]
    sh, sw = a.get("strides", [1, 1])
    x = pad_nchw(x, a.get("pads", [0, 0, 0, 0]))
    y = np.einsum("ncijkl,mckl->nmij", windows(x, kh, kw, sh, sw), w)
    if b is not None:
        y = y + b[None, :, None, None]
    return y


def op_pool(a, x, reduce):
    kh, kw = a["kernel_shape"]
    sh, sw = a.get("strides", [1, 1])
    assert not a.get("ceil_mode", 0) and list(a.get("pads", [0] * 4)) == [0] * 4
    return reduce(windows(x, kh, kw, sh, sw), axis=(4, 5))


def op_bn(a, x, scale, bias, mean, var):
    eps = a.get("epsilon", 1e-5)
    s = (scale / np.sqrt(var + eps))[None, :, None, None]
    return (x - mean[None, :, None, None]) * s + bias[None, :, None, None]


def op_gemm(a, A, B, C=None):
    if a.get("transA", 0):
        A = A.T
    if a.get("transB", 0):
        B = B.T
    y = a.get("alpha", 1.0) * (A @ B)
    if C is not None:
        y = y + a.get("beta", 1.0) * C
    return y


def run(model, x):
    """Evaluate the graph in float64. Batch-size agnostic for these ops."""
    env = {t.name: numpy_helper.to_array(t).astype(np.float64)
           for t in model.graph.initializer}
    env[model.graph.input[0].name] = x.astype(np.float64)
    for n in model.graph.node:
        a = attrs(n)
        i = [env[name] if name else None for name in n.input]
        t = n.op_type
        if t == "Conv":
            y = op_conv(a, *i)
        elif t == "BatchNormalization":
            y = op_bn(a, *i)
        elif t == "Relu":
            y = np.maximum(i[0], 0.0)
        elif t == "MaxPool":
            y = op_pool(a, i[0], np.max)
        elif t == "AveragePool":
            y = op_pool(a, i[0], np.mean)
        elif t == "Flatten":
            ax = a.get("axis", 1)
            y = i[0].reshape(int(np.prod(i[0].shape[:ax])), -1)
        elif t == "Reshape":
            shape = [int(s) for s in i[1]]
            shape[0] = i[0].shape[0] if shape[0] in (0, 1) else shape[0]
            y = i[0].reshape(shape)
        elif t == "Gemm":
            y = op_gemm(a, *i)
        elif t == "Constant":
            y = numpy_helper.to_array(a["value"]).astype(np.float64)
        else:
            raise NotImplementedError("op %s" % t)
        env[n.output[0]] = y
    return env[model.graph.output[0].name]


# ---------------------------------------------------------------- checks
def static_dims(vi):
    return [d.dim_value if d.HasField("dim_value") else None
            for d in vi.type.tensor_type.shape.dim]


def check_model(stem, in_shape, want_bn):
    path = os.path.join(HERE, stem + ".onnx")
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    print("== %s (%d bytes)" % (stem + ".onnx", os.path.getsize(path)))
    ops = [n.op_type for n in m.graph.node]
    print("ops:", ops)
    check(os.path.getsize(path) < 1 << 20, "%s.onnx is under 1 MB" % stem)
    check([o.version for o in m.opset_import if o.domain in ("", "ai.onnx")] == [13],
          "opset 13")
    check([i.name for i in m.graph.input] == ["input"], "single graph input 'input'")
    check([o.name for o in m.graph.output] == ["logits"], "single graph output 'logits'")
    check(static_dims(m.graph.input[0]) == in_shape, "input shape %s static" % in_shape)
    check(static_dims(m.graph.output[0]) == [1, 10], "output shape [1, 10] static")
    if want_bn:
        check(ops.count("BatchNormalization") == 2, "2 BatchNormalization nodes present")

    sets = sorted(glob.glob(os.path.join(HERE, stem, "test_data_set_*")))
    check(len(sets) == 3, "3 test data sets")
    for d in sets:
        tensors = {}
        for kind, name in (("input_0", "input"), ("output_0", "logits")):
            t = onnx.TensorProto()
            with open(os.path.join(d, kind + ".pb"), "rb") as f:
                t.ParseFromString(f.read())
            pb = numpy_helper.to_array(t)
            npy = np.load(os.path.join(d, kind + ".npy"))
            check(t.name == name and pb.dtype == np.float32 and npy.dtype == np.float32
                  and np.array_equal(pb, npy),
                  "%s/%s: name %r, .pb == .npy, shape %s"
                  % (os.path.basename(d), kind, t.name, list(pb.shape)))
            tensors[kind] = pb
        check(list(tensors["input_0"].shape) == in_shape, "  input shape")
        got = run(m, tensors["input_0"])
        err = float(np.max(np.abs(got - tensors["output_0"])))
        check(err < 1e-4, "  numpy-interpreted output matches output_0 (max err %.2e)" % err)
    return m


def recorded_accuracy(stem):
    with open(os.path.join(HERE, stem + ".accuracy")) as f:
        line = f.read()
    mo = re.fullmatch(r"accuracy: (\d\.\d{4}) \((\d+) images\)\n", line)
    check(mo is not None, "%s.accuracy format: %r" % (stem, line.strip()))
    return float(mo.group(1)), int(mo.group(2))


def check_accuracy(stem, model, x, y):
    acc_rec, n_rec = recorded_accuracy(stem)
    pred = np.concatenate([run(model, x[i:i + 500]).argmax(1)
                           for i in range(0, len(x), 500)])
    acc = float((pred == y).mean())
    check(n_rec == len(x) and abs(acc - acc_rec) <= 1e-3,
          "interpreted accuracy %.4f over %d vs recorded %.4f (%d)"
          % (acc, len(x), acc_rec, n_rec))


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    nd = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * nd).reshape(dims)


def main():
    m = check_model("lenet5", [1, 1, 28, 28], want_bn=True)
    x = read_idx(os.path.join(FASHION, "t10k-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(FASHION, "t10k-labels-idx1-ubyte.gz"))
    xf = (x.astype(np.float32) / np.float32(255.0))[:, None]
    ref = np.load(os.path.join(HERE, "lenet5/test_data_set_0/input_0.npy"))
    check(np.array_equal(xf[:1], ref), "lenet5 input_0 == first test image / 255")
    check_accuracy("lenet5", m, xf, y)

    m = check_model("mlp_digits", [1, 64], want_bn=False)
    img = np.load(os.path.join(HERE, "digits/test-images.npy"))
    lab = np.load(os.path.join(HERE, "digits/test-labels.npy"))
    check(img.dtype == np.uint8 and img.ndim == 3 and img.shape[1:] == (8, 8)
          and img.max() <= 16 and lab.dtype == np.uint8 and lab.shape == img.shape[:1],
          "digits/test-*.npy: uint8 %s and %s" % (list(img.shape), list(lab.shape)))
    xf = img.reshape(len(img), 64).astype(np.float32) / np.float32(16.0)
    ref = np.load(os.path.join(HERE, "mlp_digits/test_data_set_0/input_0.npy"))
    check(np.array_equal(xf[:1], ref), "mlp_digits input_0 == first test image / 16")
    check_accuracy("mlp_digits", m, xf, lab)

    print("verify: %d passed, %d failed" % (len(passes), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
