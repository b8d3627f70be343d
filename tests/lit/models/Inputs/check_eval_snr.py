#!/usr/bin/python3
"""Checks the SNR and relative error of `xbarc eval --against --metrics-json`
(argv[1]) with numpy, from outputs xbarc computes image by image outside the
evaluator: `xbarc run PROGRAM` (or `xbarc interp` for a model) and
`xbarc interp REFERENCE` on the first N digits test images (pixels / 16, as
xbarc's digits data set), written as .npy files.

  check_eval_snr.py XBARC.json MODEL REFERENCE N WORKDIR

signal = sum ref^2, noise = sum (out - ref)^2 over all images and outputs;
SNR = 10 log10(signal / noise) dB, relative error = sqrt(noise / signal).
numpy sums in another order, so the figures agree to 1e-9 relative.
"""
import json
import math
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DIGITS = os.path.normpath(os.path.join(HERE, "../../../../models/digits"))


def outputs(model, image, out_dir):
    cmd = "run" if model.endswith(".xbp") else "interp"
    subprocess.run(["xbarc", cmd, model, "--input", image, "-o", out_dir, "--format", "npy"], check=True)
    (name,) = os.listdir(out_dir)
    return np.load(os.path.join(out_dir, name)).astype(np.float64)


def main():
    got = json.load(open(sys.argv[1]))
    model, reference, n, work = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    os.makedirs(work, exist_ok=True)
    x = np.load(os.path.join(DIGITS, "test-images.npy")).reshape(-1, 1, 64).astype(np.float32) / np.float32(16)
    outs, refs = [], []
    for i in range(n):
        image = os.path.join(work, "image%d.npy" % i)
        np.save(image, x[i])
        outs.append(outputs(model, image, os.path.join(work, "out%d" % i)))
        refs.append(outputs(reference, image, os.path.join(work, "ref%d" % i)))
    out, ref = np.stack(outs), np.stack(refs)
    signal, noise = float((ref ** 2).sum()), float(((out - ref) ** 2).sum())
    snr, relerr = 10 * math.log10(signal / noise), math.sqrt(noise / signal)
    a = got["against"]
    print("numpy: SNR %.6f dB, relative error %.6g over %d values; xbarc: %.6f dB, %.6g over %d"
          % (snr, relerr, out.size, a["snr_db"], a["relerr"], a["values"]))
    ok = got["images"] == n and a["values"] == out.size
    for name, want, have in (("signal", signal, a["signal"]), ("noise", noise, a["noise"]),
                             ("snr_db", snr, a["snr_db"]), ("relerr", relerr, a["relerr"])):
        if not abs(have - want) <= 1e-9 * abs(want):
            print("FAIL: %s is %.17g, numpy says %.17g" % (name, have, want))
            ok = False
    if got["metric"] in ("snr", "relerr") and got["value"] != a[got["metric"] + ("_db" if got["metric"] == "snr" else "")]:
        print("FAIL: the headline value is not the %s" % got["metric"])
        ok = False
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
