#!/usr/bin/env python3
"""Reproduces the peer simulators' tables on the digits MLP (docs/validation.md).

Runs xbarc configured as Sandia's CrossSim 3.2 and IBM's aihwkit 0.9.2 were on
models/peers/digits_mlp.onnx (500 test images of scikit-learn's digits, the
split of models/peers/README.md), every row over the peers' seeds, and prints
the table: setting, the peer's figure, xbarc's mean +- sample std over the
same number of seeds, and the command.  A row is "within the spread" when
xbarc's mean is within the peer's standard deviation of the peer's mean (0.6
points for noise-free rows), and "agrees" when it is within that or when a
two-sided test at 5% for the whole table (Bonferroni over its rows: 2.9
standard errors of the difference of the two means, the seed noise of both)
finds no difference; --check exits 1 unless every row agrees.  The peers' figures are theirs, as published with
the model; nothing here is fitted to them.

Usage: scripts/peer_table.py BUILD_DIR [--check] [--rows GROUP,...] [-o TABLE.md]
GROUP: crosssim, adc, wires, aihwkit (default: all).  Only the standard library:
any python3 runs it."""
import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.join(ROOT, "models", "peers")
MODEL = os.path.join(PEERS, "digits_mlp.onnx")
TEST = os.path.join(PEERS, "digits_test.npz")
TRAIN = os.path.join(PEERS, "digits_train.npz")

# The architectures (models/peers/*.json, docs/validation.md "Configuration"):
# crosssim.json is CrossSim's (a balanced core, one slice of 8-bit weights per
# layer whose largest |weight| maps to G_max, 8-bit inputs on 8-bit DACs, one
# 1024-row array per layer, 10 kOhm to 1 MOhm), pcm.json the same on PCM's
# 25 uS, aihwkit.json aihwkit 0.9's InferenceRPUConfig (docs/noise.md 14).
def arch_file(name):
    return os.path.join(PEERS, name + ".json")


# CrossSim's arrays for the wire rows (docs/noise.md 7, "Against CrossSim"):
# one array per layer, each block alone at the corner of its tile; a balanced
# core's positive and negative cells in two arrays (interleaved_posneg False);
# the sense amplifier at the end of the summation line past its last input.
CROSSSIM_WIRES_COMPILE = ["--adc", "lossless", "--packing", "none"]
CROSSSIM_WIRES_LAYOUT = ["--set", "wire_split_pairs=1", "--set", "wire_sense_far=1"]
AIHWKIT_OUT_BOUND = 12.0     # IOParameters.out_bound, in output units (weight x input scaled to 1)

# (group, setting, peer mean, peer std (0: noise-free), seeds, arch, compile options, eval options)
ROWS = [
    ("crosssim", "float32", 98.40, 0, 1, None, None, []),
    ("crosssim", "ideal cores, no ADC", 98.40, 0, 1, "crosssim", ["--adc", "lossless"], []),
    ("adc", "8-bit ADC, range MAX", 97.40, 0, 1, "crosssim", ["--adc", "uniform:8:max"], []),
    ("adc", "6-bit ADC, range MAX", 89.80, 0, 1, "crosssim", ["--adc", "uniform:6:max"], []),
    ("adc", "4-bit ADC, range MAX", 10.20, 0, 1, "crosssim", ["--adc", "uniform:4:max"], []),
    ("crosssim", "programming error, 5% of Gmax", 97.76, 0.39, 5, "crosssim", ["--adc", "lossless"],
     ["--set", "prog_model=state-independent", "--set", "prog_sigma=0.05"]),
    ("crosssim", "programming error, 10% of Gmax", 96.20, 1.17, 5, "crosssim", ["--adc", "lossless"],
     ["--set", "prog_model=state-independent", "--set", "prog_sigma=0.10"]),
    ("crosssim", "programming error, 10% of G", 98.00, 0.13, 5, "crosssim", ["--adc", "lossless"],
     ["--set", "prog_model=proportional", "--set", "prog_sigma=0.10"]),
    ("crosssim", "read noise, 5% of G per read", 98.16, 0.08, 5, "crosssim", ["--adc", "lossless"],
     ["--set", "read_sigma=0.05"]),
    ("crosssim", "PCM programming error (Gmax 25 uS)", 97.88, 0.20, 5, "pcm", ["--adc", "lossless"],
     ["--set", "prog_model=pcm", "--set", "prog_sigma=1"]),
    ("wires", "wire resistance 1 ohm per segment", 98.40, 0, 1, "crosssim", CROSSSIM_WIRES_COMPILE,
     ["--set", "wire_r_ohm=1"] + CROSSSIM_WIRES_LAYOUT),
    ("wires", "wire resistance 5 ohm per segment", 97.60, 0, 1, "crosssim", CROSSSIM_WIRES_COMPILE,
     ["--set", "wire_r_ohm=5"] + CROSSSIM_WIRES_LAYOUT),
    ("aihwkit", "PCM, t = 0 (programmed)", 97.68, 0.26, 10, "aihwkit", [], ["--noise", "pcm", "--time", "0"]),
    ("aihwkit", "PCM, 1 hour", 97.86, 0.48, 10, "aihwkit", [], ["--noise", "pcm", "--time", "1h"]),
    ("aihwkit", "PCM, 1 day", 97.74, 0.35, 10, "aihwkit", [], ["--noise", "pcm", "--time", "1d"]),
    ("aihwkit", "PCM, 1 year", 97.22, 0.52, 10, "aihwkit", [], ["--noise", "pcm", "--time", "1y"]),
]
NOISE_FREE_TOLERANCE = 0.6


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("failed (%d): %s\n%s" % (p.returncode, " ".join(cmd), p.stderr))
    return p.stdout


def accuracy(out):
    line = out.strip().splitlines()[-1]
    assert line.startswith("accuracy: "), line
    return 100 * float(line.split()[1])


def aihwkit_adc_options(xbarc, tmp):
    """aihwkit's ADC range as compile options: each layer's full scale is
    out_bound in output units, out_bound * (2^in_bits - 1) / w_scale in
    column-sum units (inputs scaled to 1 as aihwkit's noise management does),
    given as a fraction of the layer's reach (--adc uniform:B:F, --adc-range;
    docs/noise.md 14).  The reach and w_scale come from a first compile's IR."""
    ir = os.path.join(tmp, "aihwkit-reach.xir")
    with open(arch_file("aihwkit")) as f:
        bits = json.load(f)["adc_bits"]
    run([xbarc, "compile", MODEL, "--arch", arch_file("aihwkit"), "--calib", TRAIN,
         "--calib-count", "1297", "--adc", "uniform:%d:max" % bits, "--emit-ir", ir])
    ranges = []
    for line in open(ir):
        if " = xbar(" not in line:
            continue
        reach = float(re.search(r"adc_max = \[([0-9.e+]+)\]", line).group(1))
        w_scale = float(re.search(r"w_scale = \[([0-9.e-]+)", line).group(1))
        in_bits = int(re.search(r"in_bits = ([0-9]+)", line).group(1))
        layer = re.search(r'loc\("([^"]+)"', line).group(1)
        ranges.append("%s=%.10f" % (layer, AIHWKIT_OUT_BOUND * (2 ** in_bits - 1) / w_scale / reach))
    return ["--adc", "uniform:%d" % bits, "--adc-range", ",".join(ranges)]


def shown(cmd, tmp):
    """A command as docs/validation.md prints it: repository paths, no temp dir."""
    text = " ".join(cmd).replace(os.path.dirname(cmd[0]) + "/", "")
    return text.replace(tmp + "/", "").replace(ROOT + "/", "")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--rows", default="crosssim,adc,wires,aihwkit")
    ap.add_argument("-o", dest="out")
    args = ap.parse_args()
    xbarc = os.path.join(os.path.abspath(args.build), "xbarc")
    groups = args.rows.split(",")
    tmp = tempfile.mkdtemp(prefix="peer-table.")
    try:
        programs = {}
        compiles = []
        lines = ["| setting | peer | xbarc | seeds | difference | command |", "|---|--:|--:|--:|---|---|"]
        failures = 0
        for group, setting, peer, spread, seeds, arch, compile_opts, eval_opts in ROWS:
            if group not in groups:
                continue
            if arch is None:
                target = MODEL
            else:
                if arch == "aihwkit":
                    compile_opts = aihwkit_adc_options(xbarc, tmp)
                key = (arch, tuple(compile_opts))
                if key not in programs:
                    target = os.path.join(tmp, "P%d.xbp" % (len(programs) + 1))
                    compile_cmd = [xbarc, "compile", MODEL, "--arch", arch_file(arch), "--calib",
                                   TRAIN, "--calib-count", "1297"] + compile_opts + ["-o", target]
                    run(compile_cmd)
                    programs[key] = target
                    compiles.append("- `%s`" % shown(compile_cmd, tmp))
                target = programs[key]
            figures = []
            for seed in range(1, seeds + 1):
                cmd = [xbarc, "eval", target, "--dataset", TEST] + eval_opts + (["--seed", str(seed)] if seeds > 1 else [])
                figures.append(accuracy(run(cmd)))
            mean = statistics.mean(figures)
            std = statistics.stdev(figures) if len(figures) > 1 else 0.0
            tolerance = spread if spread > 0 else NOISE_FREE_TOLERANCE
            within = abs(mean - peer) <= tolerance + 1e-9
            # Do the two means differ beyond their seed noise?  A two-sided
            # test at 5% for the whole table (Bonferroni over its rows) on the
            # standard error of the difference (both over the same seeds).
            z = statistics.NormalDist().inv_cdf(1 - 0.05 / 2 / len(ROWS))
            agree_bound = z * math.sqrt(spread ** 2 / seeds + std ** 2 / seeds) if spread else tolerance
            ok = abs(mean - peer) <= max(agree_bound, tolerance) + 1e-9
            failures += not ok
            command = shown([xbarc, "eval", target, "--dataset", TEST] + eval_opts +
                            (["--seed", "S"] if seeds > 1 else []), tmp)
            peer_text = "%.2f" % peer + (" +- %.2f" % spread if spread else "")
            ours = "%.2f" % mean + (" +- %.2f" % std if len(figures) > 1 else "")
            verdict = "%+.2f: %s the spread, %s" % (mean - peer, "within" if within else "**outside**",
                                                     "agrees" if ok else "**differs**")
            lines.append("| %s | %s | %s | %d | %s | `%s` |" % (setting, peer_text, ours, seeds, verdict, command))
            print(lines[-1], flush=True)
        lines += ["", "The programs:", ""] + compiles
        if args.out:
            with open(args.out, "w") as f:
                f.write("\n".join(lines) + "\n")
        print("peer table: %d rows differ" % failures)
        return 1 if args.check and failures else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
