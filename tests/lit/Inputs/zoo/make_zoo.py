#!/usr/bin/python3
"""Exports the zoo's families at CI size, for tests/lit/zoo/*.test.

Run with Debian's /usr/bin/python3 (torch 1.13, torchvision 0.14, onnx); the
outputs are committed next to this script, so the tests never need Python:

    NAME_WAY.onnx   the family NAME (models/zoo_families.py, size "ci")
                    exported each WAY: default (torch's defaults, opset 14),
                    dynamic (a dynamic batch axis), nofold
                    (do_constant_folding=False)
    NAME_x1.npy, NAME_y1.npy   a standard normal input and torch's output
    NAME_x2.npy, NAME_y2.npy   the same at batch 2 (for the dynamic export)
"""
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "..", "models"))
import zoo_families  # noqa: E402


def main():
    torch.set_num_threads(2)
    names = sys.argv[1:] or list(zoo_families.FAMILIES)
    for name in names:
        model, shape = zoo_families.build(name, "ci")
        for batch in (1, 2):
            x = zoo_families.inputs(shape, batch, zoo_families.INPUT_SEED + batch)
            with torch.no_grad():
                y = model(torch.from_numpy(x)).numpy()
            np.save(os.path.join(HERE, "%s_x%d.npy" % (name, batch)), x)
            np.save(os.path.join(HERE, "%s_y%d.npy" % (name, batch)), y)
        for way in zoo_families.WAYS:
            path = os.path.join(HERE, "%s_%s.onnx" % (name, way))
            zoo_families.export(model, np.load(os.path.join(HERE, name + "_x1.npy")), path, way)
            print("%-20s %-8s %7d bytes" % (name, way, os.path.getsize(path)))


if __name__ == "__main__":
    main()
