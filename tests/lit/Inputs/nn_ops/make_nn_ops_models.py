#!/usr/bin/python3
"""Generates the small models of tests/lit/frontend/nn-ops.test.

Run with Debian's /usr/bin/python3 (torch 1.13, onnx 1.12); the outputs are
committed next to this script, so the test never needs Python.

- trig_cnn.onnx: torch's export (opset 17) of a small CNN whose activations are
  the trigonometric functions torch exports (not the hyperbolic ones), sign,
  PixelShuffle / PixelUnshuffle (DepthToSpace / SpaceToDepth), bicubic
  interpolation (Resize cubic) and grid_sample (GridSample, bicubic with
  reflection), with torch's own output as the reference; calib_trig_cnn/
  holds inputs for `xbarc compile --calib`.
- einsum.onnx: torch's Einsum nodes of attention (bid,de->bie; bie,bje->bij;
  bij,bjd->bid), a "..." transpose, a sum and an inner product.
- hand_ops.onnx: nodes torch does not export, written with onnx.helper:
  Sinh, Cosh, Asinh, Acosh, Atanh, Hardmax, Det, ReverseSequence, LRN,
  MeanVarianceNormalization, LayerNormalization with its Mean and InvStdDev
  outputs, DepthToSpace in DCR mode, EyeLike, Hann, Hamming (symmetric) and
  Blackman windows, Shrink with a bias, ThresholdedRelu, Resize
  tf_crop_and_resize and LSTM with peepholes; its references computed here
  with numpy as ONNX's operator documentation defines them.
- bad_nn_ops.onnx: one mistake a node (LRN without size, DepthToSpace whose
  blocksize does not divide the channels, Hardmax axis out of range).
"""
import os

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(0)
rng = np.random.default_rng(0)


def path(name):
    return os.path.join(HERE, name)


class TrigCnn(nn.Module):
    """Conv layers (on crossbars) between the new digital operators."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(2, 4, 3, padding=1)
        self.grid = nn.Parameter(torch.rand(1, 6, 6, 2) * 2.4 - 1.2)     # reaching past the borders
        self.fc = nn.Linear(4 * 6 * 6, 5)

    def forward(self, x):
        h = self.conv1(x)                                   # 8 x 8 x 8
        a = torch.sin(h[:, 0:1]) + torch.cos(h[:, 1:2]) + torch.tan(0.3 * h[:, 2:3])
        b = torch.asin(torch.tanh(h[:, 3:4])) + torch.acos(torch.tanh(h[:, 4:5])) + torch.atan(h[:, 5:6])
        c = torch.sign(h[:, 0:1]) + h[:, 6:7]
        d = torch.sin(h[:, 1:2]) * torch.cos(h[:, 7:8])
        e = torch.relu(h[:, 4:5]) + h[:, 5:6] * h[:, 6:7]
        h = torch.cat([a, b, c, d, e, h[:, 5:8]], dim=1)
        h = nn.functional.pixel_shuffle(h, 2)               # 2 x 16 x 16
        h = nn.functional.pixel_unshuffle(h, 2)[:, 0:2]     # 2 x 8 x 8
        h = nn.functional.interpolate(h, scale_factor=2, mode="bicubic", align_corners=False)
        h = nn.functional.interpolate(self.conv2(h), size=(8, 8), mode="bicubic", align_corners=True)
        h = nn.functional.grid_sample(h, self.grid, mode="bicubic", padding_mode="reflection", align_corners=False)
        return self.fc(h.flatten(1))


def export_trig_cnn():
    model = TrigCnn().eval()
    x = torch.randn(1, 2, 8, 8)
    with torch.no_grad():
        y = model(x)
    torch.onnx.export(model, (x,), path("trig_cnn.onnx"), input_names=["x"], output_names=["logits"],
                      opset_version=17)
    np.save(path("trig_cnn_x.npy"), x.numpy())
    np.save(path("trig_cnn_logits.npy"), y.numpy())
    os.makedirs(path("calib_trig_cnn"), exist_ok=True)
    for i in range(4):
        np.save(path(f"calib_trig_cnn/{i}.npy"), torch.randn(1, 2, 8, 8).numpy())


class EinsumBlock(nn.Module):
    """Attention-style einsums: a projection by a weight, q k^T, attention x V,
    a transpose with "...", a sum and an inner product."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 6))

    def forward(self, x):
        q = torch.einsum("bid,de->bie", x, self.w)
        scores = torch.einsum("bie,bje->bij", q, q).softmax(dim=-1)
        y = torch.einsum("bij,bjd->bid", scores, x)
        t = torch.einsum("...ij->...ji", y)
        total = torch.einsum("bij->bj", q)
        v = x.reshape(-1)
        inner = torch.einsum("i,i", v, v)
        return y, t, total, inner.reshape(1)


def export_einsum():
    model = EinsumBlock().eval()
    x = torch.randn(2, 3, 4)
    with torch.no_grad():
        outs = model(x)
    names = ["y", "t", "total", "inner"]
    torch.onnx.export(model, (x,), path("einsum.onnx"), input_names=["x"], output_names=names, opset_version=17)
    np.save(path("einsum_x.npy"), x.numpy())
    for name, out in zip(names, outs):
        np.save(path(f"einsum_{name}.npy"), out.numpy())


def hardmax(x, axis):
    y = np.zeros_like(x)
    idx = np.expand_dims(np.argmax(x, axis=axis), axis)
    np.put_along_axis(y, idx, 1.0, axis=axis)
    return y


def lrn(x, size, alpha, beta, bias):
    c = x.shape[1]
    square_sum = np.zeros_like(x, dtype=np.float64)
    for i in range(c):
        lo, hi = max(0, i - (size - 1) // 2), min(c - 1, i + size // 2)
        square_sum[:, i] = (x[:, lo:hi + 1].astype(np.float64) ** 2).sum(axis=1)
    return (x / (bias + alpha / size * square_sum) ** beta).astype(np.float32)


def crop_and_resize(x, roi, sizes, extrapolation):
    """Resize linear, tf_crop_and_resize, over the last two axes (roi, sizes of rank 4)."""
    y = np.empty(tuple(sizes), np.float32)
    coords = []
    for a in (2, 3):
        n_in, n_out, start, end = x.shape[a], sizes[a], roi[a], roi[4 + a]
        coords.append([start * (n_in - 1) + o * (end - start) * (n_in - 1) / (n_out - 1) for o in range(n_out)])
    for i, ci in enumerate(coords[0]):
        for j, cj in enumerate(coords[1]):
            if not (0 <= ci <= x.shape[2] - 1 and 0 <= cj <= x.shape[3] - 1):
                y[:, :, i, j] = extrapolation
                continue
            i0, j0 = int(np.floor(ci)), int(np.floor(cj))
            i1, j1 = min(i0 + 1, x.shape[2] - 1), min(j0 + 1, x.shape[3] - 1)
            fi, fj = ci - i0, cj - j0
            y[:, :, i, j] = ((1 - fi) * (1 - fj) * x[:, :, i0, j0] + (1 - fi) * fj * x[:, :, i0, j1]
                             + fi * (1 - fj) * x[:, :, i1, j0] + fi * fj * x[:, :, i1, j1])
    return y


def lstm_peepholes(xs, w, r, b, p):
    """ONNX LSTM, one direction, gates i o f c, peepholes i o f; returns Y [seq, 1, batch, hidden]."""
    sigmoid = lambda v: 1 / (1 + np.exp(-v))
    hid = r.shape[-1]
    h = np.zeros((xs.shape[1], hid))
    c = np.zeros((xs.shape[1], hid))
    pi, po, pf = p[0, :hid], p[0, hid:2 * hid], p[0, 2 * hid:]
    ys = []
    for x in xs:
        g = x @ w[0].T + h @ r[0].T + b[0, :4 * hid] + b[0, 4 * hid:]
        i = sigmoid(g[:, :hid] + pi * c)
        f = sigmoid(g[:, 2 * hid:3 * hid] + pf * c)
        c = f * c + i * np.tanh(g[:, 3 * hid:])
        o = sigmoid(g[:, hid:2 * hid] + po * c)
        h = o * np.tanh(c)
        ys.append(h)
    return np.stack(ys)[:, None]


def write_hand_ops():
    x = rng.standard_normal((2, 8, 3, 3)).astype(np.float32)
    x[0, :, 0, 0] = 1.5                                     # a tie: hardmax takes the first
    scale = rng.uniform(0.5, 1.5, (3, 3)).astype(np.float32)
    bias = rng.uniform(-0.5, 0.5, (3, 3)).astype(np.float32)
    inits = [numpy_helper.from_array(scale, "scale"), numpy_helper.from_array(bias, "ln_bias")]
    nodes = [
        helper.make_node("Sinh", ["x"], ["sinh"], name="sinh"),
        helper.make_node("Cosh", ["x"], ["cosh"], name="cosh"),
        helper.make_node("Asinh", ["x"], ["asinh"], name="asinh"),
        helper.make_node("Abs", ["x"], ["abs"], name="abs"),
        helper.make_node("Add", ["abs", "one"], ["above_one"], name="above_one"),
        helper.make_node("Acosh", ["above_one"], ["acosh"], name="acosh"),
        helper.make_node("Tanh", ["x"], ["tanh"], name="tanh"),
        helper.make_node("Atanh", ["tanh"], ["atanh"], name="atanh"),
        helper.make_node("Hardmax", ["x"], ["hardmax"], name="hardmax", axis=1),
        helper.make_node("Det", ["x"], ["det"], name="det"),
        helper.make_node("ReverseSequence", ["x", "lens"], ["reversed"], name="reversed", batch_axis=0, time_axis=1),
        helper.make_node("LRN", ["x"], ["lrn"], name="lrn", size=3, alpha=0.02, beta=0.6, bias=1.5),
        helper.make_node("MeanVarianceNormalization", ["x"], ["mvn"], name="mvn"),
        helper.make_node("LayerNormalization", ["x", "scale", "ln_bias"], ["ln", "ln_mean", "ln_inv_std"],
                         name="ln", axis=2, epsilon=1e-3),
        helper.make_node("DepthToSpace", ["x"], ["d2s"], name="d2s", blocksize=2, mode="DCR"),
        helper.make_node("Shrink", ["x"], ["shrink"], name="shrink", lambd=0.7, bias=0.2),
        helper.make_node("ThresholdedRelu", ["x"], ["trelu"], name="trelu", alpha=0.5),
        helper.make_node("Slice", ["x", "s0", "s1", "s2"], ["x2d"], name="x2d"),
        helper.make_node("Reshape", ["x2d", "shape2d"], ["plane"], name="plane"),
        helper.make_node("EyeLike", ["plane"], ["eye_c"], name="eye_c", k=1),
        helper.make_node("Add", ["plane", "eye_c"], ["eye"], name="eye"),
        helper.make_node("Reshape", ["plane", "nine"], ["row"], name="row"),
        helper.make_node("HannWindow", ["size9"], ["hann_c"], name="hann_c"),
        helper.make_node("HammingWindow", ["size9"], ["hamming_c"], name="hamming_c", periodic=0),
        helper.make_node("BlackmanWindow", ["size9"], ["blackman_c"], name="blackman_c"),
        helper.make_node("Add", ["row", "hann_c"], ["hann"], name="hann"),
        helper.make_node("Add", ["row", "hamming_c"], ["hamming"], name="hamming"),
        helper.make_node("Add", ["row", "blackman_c"], ["blackman"], name="blackman"),
        helper.make_node("Resize", ["x", "roi", "", "crop_sizes"], ["crop"], name="crop", mode="linear",
                         coordinate_transformation_mode="tf_crop_and_resize", extrapolation_value=7.0),
        helper.make_node("Reshape", ["x", "seq_shape"], ["seq"], name="seq"),
        helper.make_node("LSTM", ["seq", "W", "R", "B", "", "", "", "P"], ["lstm"], name="lstm", hidden_size=3),
    ]
    inits.append(numpy_helper.from_array(np.array(1.0, np.float32), "one"))
    roi = np.array([0, 0, 0.2, 0.1, 1, 1, 0.9, 1.3], np.float32)
    lstm_params = {"W": rng.standard_normal((1, 12, 9)), "R": rng.standard_normal((1, 12, 3)),
                   "B": rng.standard_normal((1, 24)), "P": rng.standard_normal((1, 9))}
    lstm_params = {k: (0.5 * v).astype(np.float32) for k, v in lstm_params.items()}
    inits += [numpy_helper.from_array(roi, "roi")] + [numpy_helper.from_array(v, k) for k, v in lstm_params.items()]
    inits += [numpy_helper.from_array(np.array(v, np.int64), n) for n, v in
              [("lens", [5, 1]), ("crop_sizes", [2, 8, 4, 5]), ("seq_shape", [8, 2, 9]), ("nine", [9]), ("size9", 9)]]
    inits += [numpy_helper.from_array(np.array(v, np.int64), n) for n, v in
              [("s0", [0, 0, 0, 0]), ("s1", [1, 1, 3, 3]), ("s2", [0, 1, 2, 3]), ("shape2d", [3, 3])]]
    mean = x.mean(axis=(2, 3), keepdims=True)
    inv_std = 1.0 / np.sqrt(((x - mean) ** 2).mean(axis=(2, 3), keepdims=True) + 1e-3)
    ex = x.mean(axis=(0, 2, 3), keepdims=True)
    mvn = (x - ex) / (np.sqrt((x * x).mean(axis=(0, 2, 3), keepdims=True) - ex * ex) + 1e-9)
    n, c, h, w = x.shape
    d2s = x.reshape(n, 2, 2, c // 4, h, w).transpose(0, 3, 4, 1, 5, 2).reshape(n, c // 4, h * 2, w * 2)
    k9 = np.arange(9)
    refs = {
        "sinh": np.sinh(x),
        "cosh": np.cosh(x),
        "asinh": np.arcsinh(x),
        "acosh": np.arccosh(np.abs(x) + 1.0),
        "atanh": np.arctanh(np.tanh(x)),
        "hardmax": hardmax(x, 1),
        "det": np.linalg.det(x.astype(np.float64)),
        "reversed": np.stack([np.concatenate([x[0, 4::-1], x[0, 5:]]), x[1]]),
        "lrn": lrn(x, 3, 0.02, 0.6, 1.5),
        "mvn": mvn,
        "ln": (x - mean) * inv_std * scale + bias,
        "ln_mean": mean,
        "ln_inv_std": inv_std,
        "d2s": d2s,
        "shrink": np.where(x < -0.7, x + 0.2, np.where(x > 0.7, x - 0.2, 0.0)),
        "trelu": np.where(x > 0.5, x, 0.0),
        "eye": x[0, 0] + np.eye(3, k=1),
        "hann": x[0, 0].reshape(9) + 0.5 - 0.5 * np.cos(2 * np.pi * k9 / 9),
        "hamming": x[0, 0].reshape(9) + 25 / 46 - 21 / 46 * np.cos(2 * np.pi * k9 / 8),
        "blackman": x[0, 0].reshape(9) + 0.42 - 0.5 * np.cos(2 * np.pi * k9 / 9) + 0.08 * np.cos(4 * np.pi * k9 / 9),
        "crop": crop_and_resize(x, roi, [2, 8, 4, 5], 7.0),
        "lstm": lstm_peepholes(x.reshape(8, 2, 9), *(lstm_params[k] for k in "WRBP")),
    }
    outputs = [helper.make_tensor_value_info(k, TensorProto.FLOAT, list(v.shape)) for k, v in refs.items()]
    graph = helper.make_graph(nodes, "hand_ops", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
                              outputs, inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path("hand_ops.onnx"))
    np.save(path("hand_ops_x.npy"), x)
    for k, v in refs.items():
        np.save(path(f"hand_ops_{k}.npy"), v.astype(np.float32))


def write_bad():
    nodes = [
        helper.make_node("LRN", ["x"], ["lrn"], name="lrn_no_size"),
        helper.make_node("DepthToSpace", ["x"], ["d2s"], name="d2s_blocks", blocksize=3),
        helper.make_node("Hardmax", ["x"], ["hm"], name="hardmax_axis", axis=4),
    ]
    graph = helper.make_graph(nodes, "bad_nn_ops", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 3, 3])],
                              [helper.make_tensor_value_info(k, TensorProto.FLOAT, None) for k in ["lrn", "d2s", "hm"]])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path("bad_nn_ops.onnx"))


if __name__ == "__main__":
    export_trig_cnn()
    export_einsum()
    write_hand_ops()
    write_bad()
