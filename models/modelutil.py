"""Helpers shared by the model scripts (developer tooling only): train_lenet5.py,
train_mlp.py, export_zoo.py and tests/lit/Inputs/zoo/make_zoo.py.

Run with Debian's interpreter, /usr/bin/python3 (torch, onnx, numpy, sklearn).
"""
import os
import random
import subprocess
import time

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


def write_test_data(outdir, inputs, outputs, names=(INPUT_NAME, OUTPUT_NAME)):
    """ONNX backend-test layout: outdir/test_data_set_K/{input_0,output_0}.pb
    (TensorProto named like the graph input/output, `names`) plus the same
    tensors as .npy files next to them."""
    for k, (x, y) in enumerate(zip(inputs, outputs)):
        d = os.path.join(outdir, "test_data_set_%d" % k)
        os.makedirs(d, exist_ok=True)
        x = np.ascontiguousarray(x, dtype=np.float32)
        y = np.ascontiguousarray(y, dtype=np.float32)
        for stem, arr, name in (("input_0", x, names[0]),
                                ("output_0", y, names[1])):
            t = numpy_helper.from_array(arr, name=name)
            with open(os.path.join(d, stem + ".pb"), "wb") as f:
                f.write(t.SerializeToString())
            np.save(os.path.join(d, stem + ".npy"), arr)


def write_accuracy(path, acc, n):
    line = "accuracy: %.4f (%d images)" % (acc, n)
    with open(path, "w") as f:
        f.write(line + "\n")
    print(line)


def calibrate(model, batch):
    """Makes random weights non-degenerate, from one forward pass over `batch`
    (a float tensor): each Conv/ConvTranspose/Linear divides its weights (and
    bias) by its output's standard deviation, and each BatchNorm records the
    batch's statistics as its running mean and variance, as a trained
    network's would be.  Hooks fire in execution order, so every layer is
    scaled on the already-rescaled outputs of the layers before it (LSUV-style).
    Linear layers called functionally (MultiheadAttention's out_proj) are
    left as initialized.  Dropout stays in eval mode; the model ends in eval."""
    def rescale(module, inputs, output):
        std = output.std().item()
        module.weight.mul_(1.0 / std)
        if module.bias is not None:
            module.bias.mul_(1.0 / std)
        return output / std

    hooks = []
    model.eval()
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)):
            hooks.append(m.register_forward_hook(rescale))
        elif isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            m.reset_running_stats()
            m.momentum = None      # cumulative average: one batch sets the stats
            m.train()
    with torch.no_grad():
        model(batch)
    for h in hooks:
        h.remove()
    model.eval()


def op_summary(path):
    """'Conv x20, Relu x17, ...' in order of first appearance."""
    m = onnx.load(path, load_external_data=False)
    counts = {}
    for node in m.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return ", ".join("%s x%d" % kv for kv in counts.items())


def timed(argv, repeat):
    """Best wall time of `repeat` runs of argv; the last run's output
    (stdout and stderr).  (None, output) if a run fails."""
    best = None
    for _ in range(repeat):
        start = time.perf_counter()
        run = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             universal_newlines=True)
        seconds = time.perf_counter() - start
        if run.returncode != 0:
            return None, run.stdout
        best = seconds if best is None else min(best, seconds)
    return best, run.stdout
