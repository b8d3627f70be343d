"""Helpers shared by train_lenet5.py and train_mlp.py (developer tooling only).

Run with Debian's interpreter, /usr/bin/python3 (torch, onnx, numpy, sklearn).
"""
import os
import random

import numpy as np
import onnx
import torch
from onnx import numpy_helper

OPSET = 13
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
HERE = os.path.dirname(os.path.abspath(__file__))


def seed_everything(seed, threads=2):
    """Fixed seeds, deterministic kernels, CPU with `threads` cores."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)


def export_onnx(model, example, path):
    """Export an eval-mode model with static shapes (batch fixed at 1).

    torch.onnx.export with training=TrainingMode.EVAL (its default) runs an
    "eval peephole" pass that folds BatchNorm into the preceding Conv, even
    with do_constant_folding=False.  Exporting with TrainingMode.PRESERVE on a
    model that is already in eval mode skips that pass, and the BatchNorm is
    still emitted in inference form (one output, running mean/var as
    initializers), so BatchNormalization nodes stay in the graph.
    """
    model.eval()
    torch.onnx.export(
        model,
        example,
        path,
        export_params=True,
        opset_version=OPSET,
        do_constant_folding=False,
        training=torch.onnx.TrainingMode.PRESERVE,
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_axes=None,
    )
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    return m


def op_list(model):
    return [n.op_type for n in model.graph.node]


def write_test_data(outdir, inputs, outputs):
    """ONNX backend-test layout: outdir/test_data_set_K/{input_0,output_0}.pb
    (TensorProto named like the graph input/output) plus the same tensors
    as .npy files next to them."""
    for k, (x, y) in enumerate(zip(inputs, outputs)):
        d = os.path.join(outdir, "test_data_set_%d" % k)
        os.makedirs(d, exist_ok=True)
        x = np.ascontiguousarray(x, dtype=np.float32)
        y = np.ascontiguousarray(y, dtype=np.float32)
        for stem, arr, name in (("input_0", x, INPUT_NAME),
                                ("output_0", y, OUTPUT_NAME)):
            t = numpy_helper.from_array(arr, name=name)
            with open(os.path.join(d, stem + ".pb"), "wb") as f:
                f.write(t.SerializeToString())
            np.save(os.path.join(d, stem + ".npy"), arr)


def write_accuracy(path, acc, n):
    line = "accuracy: %.4f (%d images)" % (acc, n)
    with open(path, "w") as f:
        f.write(line + "\n")
    print(line)
