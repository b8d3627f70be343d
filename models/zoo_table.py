"""The zoo table of models/zoo.md: `export_zoo.py --table BUILD_DIR`.

For every family (models/zoo_families.py, exported by export_zoo.py at its
"zoo" size) it measures with the built tools, on the default export unless
said otherwise:

  - ONNX ops: the node counts of the default export;
  - import: `xbarc import M -o /dev/null`, best of --repeat runs;
  - compile: `xbarc compile M -o P --report-json R`, best of --repeat runs
    (its default calibration included: random uniform [0, 1) inputs);
  - tiles and the crossbar share of the MACs, from the JSON report;
  - the ideal chip's relative error against torch, ||y - y_torch|| /
    ||y_torch|| (L2) on the reference input, compiled with the default
    calibration and with --calib DIR/NAME/calib (16 inputs drawn like the
    reference input: the "real-looking" data);
  - integer-reference equality for each export way: `xbarc run` of the
    program equals `xbarc interp` of the `--emit-ir` mapped IR bit for bit.
"""
import json
import os
import platform
import subprocess
import tempfile
import time

import numpy as np

from modelutil import op_summary, timed
import zoo_families


def _run(argv):
    run = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True)
    if run.returncode != 0:
        raise RuntimeError("%s failed:\n%s" % (" ".join(argv), run.stdout))
    return run.stdout


def _chip_output(xbarc, program, x_path, out_dir):
    _run([xbarc, "run", program, "--input", x_path, "-o", out_dir, "--format", "npy"])
    return np.load(os.path.join(out_dir, "output.npy"))


def _relative_error(y, want):
    return float(np.linalg.norm(y - want) / np.linalg.norm(want))


def _exact(xbarc, model, x_path, tmp, tag):
    """The program's output equals the integer reference bit for bit."""
    program, mapped = os.path.join(tmp, tag + ".xbp"), os.path.join(tmp, tag + ".xir")
    _run([xbarc, "compile", model, "-o", program, "--emit-ir", mapped])
    y = _chip_output(xbarc, program, x_path, os.path.join(tmp, tag + ".run"))
    _run([xbarc, "interp", mapped, "--input", x_path, "-o", os.path.join(tmp, tag + ".ref"),
          "--format", "npy"])
    ref = np.load(os.path.join(tmp, tag + ".ref", "output.npy"))
    return y.shape == ref.shape and np.array_equal(y.view(np.uint32), ref.view(np.uint32))


def measure(name, out_dir, xbarc, repeat):
    """One row of the table, as a dict."""
    data = os.path.join(out_dir, name)
    x_path = os.path.join(data, "test_data_set_0", "input_0.npy")
    want = np.load(os.path.join(data, "test_data_set_0", "output_0.npy"))
    model = os.path.join(out_dir, "%s_default.onnx" % name)
    row = {"name": name, "ops": op_summary(model)}
    with tempfile.TemporaryDirectory() as tmp:
        row["import"], log = timed([xbarc, "import", model, "-o", os.devnull], repeat)
        report, program = os.path.join(tmp, "report.json"), os.path.join(tmp, "p.xbp")
        row["compile"], log = timed([xbarc, "compile", model, "-o", program,
                                     "--report-json", report], repeat)
        if row["import"] is None or row["compile"] is None:
            raise RuntimeError("%s: xbarc failed:\n%s" % (name, log))
        with open(report) as f:
            rep = json.load(f)
        row["tiles"] = rep["totals"]["tiles"]
        row["share"] = rep["macs"]["crossbar_share"]
        row["macs"] = rep["macs"]["crossbar"] + rep["macs"]["digital"]
        row["err_default"] = _relative_error(
            _chip_output(xbarc, program, x_path, os.path.join(tmp, "run")), want)
        calibrated = os.path.join(tmp, "calib.xbp")
        _run([xbarc, "compile", model, "-o", calibrated, "--calib", os.path.join(data, "calib")])
        row["err_calib"] = _relative_error(
            _chip_output(xbarc, calibrated, x_path, os.path.join(tmp, "run.calib")), want)
        row["exact"] = {way: _exact(xbarc, os.path.join(out_dir, "%s_%s.onnx" % (name, way)),
                                    x_path, tmp, way)
                        for way in zoo_families.WAYS}
    return row


def _macs(n):
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return "%.3g %s" % (n / scale, unit)
    return str(n)


def table(names, out_dir, build_dir, repeat):
    """Prints the Markdown table; False if a model fails a step or is not
    bit-exact (the table is printed anyway, the failure named)."""
    xbarc = os.path.join(build_dir, "xbarc")
    version = _run([xbarc, "--version"]).strip()
    print("\n%s on %s (%s, %d cores), %s UTC; best of %d runs.\n" % (
        version, platform.node() or "?", platform.processor() or platform.machine(),
        os.cpu_count(), time.strftime("%Y-%m-%d %H:%M", time.gmtime()), repeat))
    print("| model | import (s) | compile (s) | tiles | MACs | on crossbars "
          "| rel. error, default calib | rel. error, --calib | integer reference "
          "(default/dynamic/nofold) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    ok, ops = True, []
    for name in names:
        try:
            r = measure(name, out_dir, xbarc, repeat)
        except RuntimeError as e:
            print("| %s | FAILED: %s |" % (name, str(e).splitlines()[0]))
            ok = False
            continue
        exact = "/".join("yes" if r["exact"][w] else "NO" for w in zoo_families.WAYS)
        ok = ok and all(r["exact"].values())
        print("| %s | %.3f | %.2f | %d | %s | %.1f%% | %.2g | %.2g | %s |" % (
            name, r["import"], r["compile"], r["tiles"], _macs(r["macs"]), 100 * r["share"],
            r["err_default"], r["err_calib"], exact), flush=True)
        ops.append((name, r["ops"]))
    print("\n| model | ONNX ops of the default export (count) |\n| --- | --- |")
    for name, summary in ops:
        print("| %s | %s |" % (name, summary.replace(" x", " ")))
    return ok
