#!/usr/bin/python3
"""An independent numpy model of the digits MLP at range MAX (docs/adc.md 6).

Quantizes the peers' digits MLP as CrossSim's configuration does (8-bit
weights per layer, 8-bit unsigned inputs on [0, 1] and on [0, the largest
hidden activation of the training split], digital bias), computes each
layer's exact integer column sums, and converts them with an ADC whose full
scale is the reach R x 255 x 127, in two ways:
  signmag:   2^b - 1 levels, zero among them, step V / (2^(b-1) - 1): xbarc's
             signed ADC (docs/crossbar.md 7), CrossSim's SignMagnitudeADC;
  quantizer: 2^b levels over [-V, V], step 2V / (2^b - 1), no level at 0:
             CrossSim's QuantizerADC.
It prints the top-1 accuracy on the test split for 8, 6 and 4 bits and with
no ADC.  Nothing here is shared with xbarc: it checks xbarc's figures and
shows what the choice of CrossSim's ADC model changes.

Usage: scripts/peer_digits_adc.py MODEL.onnx TRAIN.npz TEST.npz
(models/peers/digits_mlp.onnx, digits_train.npz, digits_test.npz)."""
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def quantize_weights(w):
    scale = np.float32(np.abs(w).max() / np.float32(127))
    return np.clip(np.rint(w / scale), -127, 127), scale


def quantize_inputs(x, top):
    scale = np.float32(top / np.float32(255))
    return np.clip(np.rint(x / scale), 0, 255), scale


def adc(v, bits, full, model):
    if bits is None:
        return v
    if model == "signmag":
        step = full / (2 ** (bits - 1) - 1)
        q = 2 ** (bits - 1) - 1
        return np.clip(np.rint(v / step), -q, q) * step
    step = 2 * full / (2 ** bits - 1)
    return np.rint((np.clip(v, -full, full) + full) / step) * step - full


def layer(x, top, w, b, bits, model):
    wq, ws = quantize_weights(w)
    xq, xs = quantize_inputs(x, top)
    sums = xq.astype(np.float64) @ wq.T.astype(np.float64)     # exact integers
    reach = w.shape[1] * 255 * 127
    return adc(sums, bits, reach, model) * (xs * ws) + b


def main():
    model_path, train_path, test_path = sys.argv[1:4]
    m = onnx.load(model_path)
    p = {t.name: numpy_helper.to_array(t).astype(np.float32) for t in m.graph.initializer}
    w1, b1, w2, b2 = p["0.weight"], p["0.bias"], p["2.weight"], p["2.bias"]
    train = np.load(train_path)["x"].astype(np.float32)
    test = np.load(test_path)
    x, y = test["x"].astype(np.float32), test["y"]
    hidden_top = np.float32(np.maximum(train @ w1.T + b1, 0).max())
    for model in ("signmag", "quantizer"):
        row = []
        for bits in (8, 6, 4, None):
            h = np.maximum(layer(x, np.float32(1), w1, b1, bits, model), 0)
            z = layer(h, hidden_top, w2, b2, bits, model)
            row.append("%s %.2f" % (bits or "none", 100 * (z.argmax(1) == y).mean()))
        print("%-9s" % model, ", ".join(row))


if __name__ == "__main__":
    main()
