"""Export the model zoo: seven torchvision ImageNet networks and the families of issue 11 as ONNX.

Developer tooling, run with Debian's /usr/bin/python3 (torch 1.13,
torchvision 0.14, onnx 1.12).  It downloads nothing: every network is built
with random weights (torchvision's own initialization after
torch.manual_seed(0)), which is all the mapping benchmarks need, since tile
counts and compile times depend on shapes, not on trained values.

Left as they are, those weights make some outputs degenerate: MobileNetV2's
logits come out near 1e-9 (kaiming fan_out init on depthwise convolutions
shrinks every block), AlexNet's near 1e-2, so a comparison with an absolute
tolerance would check nothing.  calibrate() therefore rescales the weights
once, from a batch of random images: every Conv and Linear is scaled so that
its output has unit standard deviation (LSUV-style, in one forward pass), and
every BatchNorm takes that batch's statistics as its running mean and
variance, as a trained network's would be.  Logits then have unit scale and
the folded BatchNorms have non-trivial scales and shifts.

Each model is exported in eval mode, batch 1, input "input" f32[1,3,224,224],
output "logits" f32[1,1000], opset 13, static shapes.  The default
TrainingMode.EVAL export folds BatchNorm into the convolutions and drops
Dropout, which is what the benchmarks want (models/lenet5.onnx keeps BN on
purpose for the BN-folding pass; the zoo does not need to).  DenseNet-121
still has 62 BatchNormalization nodes: its pre-activation BNs follow a Concat,
not a Conv, so there is nothing to fold them into.

The files are large (about 1 GB in all, VGG-16 alone 553 MB), so they go to a
cache outside the repository, laid out like models/lenet5:

    DIR/NAME.onnx
    DIR/NAME/test_data_set_0/input_0.pb   (random normal input, fixed seed)
    DIR/NAME/test_data_set_0/output_0.pb  (torch's logits for that input)

with the same tensors as input_0.npy and output_0.npy beside them.

DIR is --out, else $XBARC_ZOO, else ~/.cache/xbarc/zoo.  The .onnx file is
renamed into place last, so its presence means the model is complete: a rerun
skips complete models (unless --force) and redoes interrupted ones.

    /usr/bin/python3 models/export_zoo.py [--out DIR] [--force] [--only a,b]
                                          [--check BUILD_DIR] [--table BUILD_DIR]

The families researchers bring (models/zoo_families.py: CIFAR ResNet-20,
MobileNetV3-small, ConvNeXt-tiny, MnasNet 0.5, a ViT, a BERT-style encoder,
LSTM and GRU classifiers, a U-Net, a keyword-spotting DS-CNN) are exported at
their "zoo" size three ways, as torch.onnx.export's defaults (opset 14),
with a dynamic batch axis and with do_constant_folding=False:

    DIR/NAME_{default,dynamic,nofold}.onnx
    DIR/NAME/test_data_set_0/{input_0,output_0}.{pb,npy}   ("input", "output")
    DIR/NAME/calib/input_K.npy   (16 inputs drawn like input_0, for --calib)

--table BUILD_DIR measures them with the built xbarc and prints the table of
models/zoo.md (models/zoo_table.py says what each column is).

--check BUILD_DIR then runs the built tools on every torchvision model: `xbarc import`
(to /dev/null), `xbarc interp` on input_0.pb, and `tests/tensor-compare`
against torch's output_0.pb (atol = rtol = 1e-3), and prints a Markdown table
of the best-of-3 wall times and the maximum absolute error.  The import is
timed twice: as written text (hex weights, about half the time) and with
--elide-constants, which is closer to the cost of the import itself.  interp
includes its own import and the default pipeline.  Use a Release build.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from modelutil import (INPUT_NAME, OPSET, OUTPUT_NAME, calibrate, op_summary, timed,  # noqa: E402
                       write_test_data)
import zoo_families  # noqa: E402
import zoo_table  # noqa: E402

MODELS = {
    "resnet18": torchvision.models.resnet18,
    "resnet50": torchvision.models.resnet50,
    "vgg16": torchvision.models.vgg16,
    "mobilenet_v2": torchvision.models.mobilenet_v2,
    "alexnet": torchvision.models.alexnet,
    "squeezenet1_1": torchvision.models.squeezenet1_1,
    "densenet121": torchvision.models.densenet121,
}
SHAPE = (1, 3, 224, 224)
WEIGHT_SEED = 0
CALIB_SEED = 99
CALIB_BATCH = 8
INPUT_SEED = 1234
FAMILY_CALIB_COUNT = 16


def default_dir():
    env = os.environ.get("XBARC_ZOO")
    if env:
        return env
    return os.path.join(os.path.expanduser("~"), ".cache", "xbarc", "zoo")


def reference_input():
    """The same random normal image for every model, independent of torch's
    generator state, so it can be regenerated on its own."""
    rng = np.random.default_rng(INPUT_SEED)
    return rng.standard_normal(SHAPE).astype(np.float32)


def export_one(name, out_dir):
    """Builds, runs and exports one network; returns its parameter count.
    The ONNX file is written under a temporary name and renamed last."""
    torch.manual_seed(WEIGHT_SEED)
    model = MODELS[name](weights=None).eval()
    rng = np.random.default_rng(CALIB_SEED)
    calibrate(model, torch.from_numpy(rng.standard_normal((CALIB_BATCH,) + SHAPE[1:]).astype(np.float32)))
    n_params = sum(p.numel() for p in model.parameters())

    x = reference_input()
    with torch.no_grad():
        y = model(torch.from_numpy(x)).numpy()
    write_test_data(os.path.join(out_dir, name), [x], [y])

    path = os.path.join(out_dir, name + ".onnx")
    tmp = path + ".tmp"
    torch.onnx.export(
        model,
        torch.from_numpy(x),
        tmp,
        export_params=True,
        opset_version=OPSET,
        do_constant_folding=True,
        training=torch.onnx.TrainingMode.EVAL,
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_axes=None,
    )
    check(tmp)
    os.replace(tmp, path)
    return n_params


def family_paths(name, out_dir):
    return {way: os.path.join(out_dir, "%s_%s.onnx" % (name, way)) for way in zoo_families.WAYS}


def export_family(name, out_dir):
    """One family of models/zoo_families.py at its "zoo" size, exported each
    way as DIR/NAME_WAY.onnx (the default export renamed into place last),
    with its reference input and torch's output in DIR/NAME/test_data_set_0
    and a calibration set of the same distribution in DIR/NAME/calib.
    Returns the parameter count."""
    model, shape = zoo_families.build(name, "zoo")
    x = zoo_families.inputs(shape, 1, zoo_families.INPUT_SEED)
    with torch.no_grad():
        y = model(torch.from_numpy(x)).numpy()
    write_test_data(os.path.join(out_dir, name), [x], [y], names=("input", "output"))
    calib = os.path.join(out_dir, name, "calib")
    os.makedirs(calib, exist_ok=True)
    batch = zoo_families.inputs(shape, FAMILY_CALIB_COUNT, zoo_families.CALIB_SEED + 1)
    for k in range(FAMILY_CALIB_COUNT):
        np.save(os.path.join(calib, "input_%d.npy" % k), batch[k:k + 1])
    paths = family_paths(name, out_dir)
    for way in sorted(paths, key=lambda w: w == "default"):
        tmp = paths[way] + ".tmp"
        zoo_families.export(model, x, tmp, way)
        onnx.checker.check_model(tmp, full_check=True)
        os.replace(tmp, paths[way])
    return sum(p.numel() for p in model.parameters())


def check(path):
    """Static shapes and the names the CLI and benchmarks rely on."""
    onnx.checker.check_model(path, full_check=True)
    m = onnx.load(path, load_external_data=False)
    ios = list(m.graph.input) + list(m.graph.output)
    for vi in ios:
        for d in vi.type.tensor_type.shape.dim:
            if not d.HasField("dim_value"):
                raise SystemExit("%s: %s has a dynamic dimension" % (path, vi.name))
    names = ([i.name for i in m.graph.input], [o.name for o in m.graph.output])
    if names != ([INPUT_NAME], [OUTPUT_NAME]):
        raise SystemExit("%s: unexpected inputs/outputs %s" % (path, names))


def check_with_xbarc(names, out_dir, build_dir, repeat):
    """Imports and interprets each model with the built xbarc, compares with
    torch; returns False when any step fails (its output is printed)."""
    xbarc = os.path.join(build_dir, "xbarc")
    compare = os.path.join(build_dir, "tests", "tensor-compare")
    ok = True
    print("\n| model | import (s) | import, weights elided (s) | interp (s) "
          "| max abs error | logits max abs |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name in names:
        model = os.path.join(out_dir, name + ".onnx")
        data = os.path.join(out_dir, name, "test_data_set_0")
        with tempfile.TemporaryDirectory() as tmp:
            t_import, log = timed([xbarc, "import", model, "-o", os.devnull], repeat)
            t_parse, _ = timed([xbarc, "import", model, "--elide-constants",
                                "-o", os.devnull], repeat)
            if t_import is None or t_parse is None:
                print("%s: xbarc import failed:\n%s" % (name, log))
                ok = False
                continue
            t_interp, log = timed([xbarc, "interp", model, "--input",
                                   "input=" + os.path.join(data, "input_0.pb"),
                                   "-o", tmp], 1)
            if t_interp is None:
                print("%s: xbarc interp failed:\n%s" % (name, log))
                ok = False
                continue
            run = subprocess.run([compare, os.path.join(tmp, "logits.pb"),
                                  os.path.join(data, "output_0.pb"),
                                  "--atol", "1e-3", "--rtol", "1e-3"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 universal_newlines=True)
        found = re.search(r"max abs error (\S+)", run.stdout)
        error = found.group(1) if found else "?"
        if run.returncode != 0:
            print("%s: logits differ from torch's:\n%s" % (name, run.stdout))
            ok = False
        want = np.load(os.path.join(data, "output_0.npy"))
        print("| %s | %.3f | %.3f | %.2f | %s%s | %.2f |" % (
            name, t_import, t_parse, t_interp, error, "" if run.returncode == 0 else " FAIL",
            np.abs(want).max()))
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=default_dir(),
                    help="cache directory (default: $XBARC_ZOO or ~/.cache/xbarc/zoo)")
    ap.add_argument("--force", action="store_true", help="re-export models already present")
    ap.add_argument("--check", metavar="BUILD_DIR",
                    help="then import and interpret each model with BUILD_DIR/xbarc")
    ap.add_argument("--repeat", type=int, default=3, help="runs timed by --check and --table (best of)")
    ap.add_argument("--table", metavar="BUILD_DIR",
                    help="then measure the families with BUILD_DIR/xbarc and print the "
                         "table of models/zoo.md (use a Release build)")
    ap.add_argument("--only", default="", help="comma-separated subset of: " +
                    ",".join(list(MODELS) + list(zoo_families.FAMILIES)))
    args = ap.parse_args()

    every = list(MODELS) + list(zoo_families.FAMILIES)
    names = [n for n in args.only.split(",") if n] or every
    unknown = [n for n in names if n not in every]
    if unknown:
        ap.error("unknown model(s): %s" % ",".join(unknown))
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(2)
    print("zoo: %s" % args.out)

    for name in names:
        family = name in zoo_families.FAMILIES
        path = family_paths(name, args.out)["default"] if family else os.path.join(args.out, name + ".onnx")
        if os.path.exists(path) and not args.force:
            print("%-18s %8.1f MB  present, skipped (--force re-exports)" % (
                name, os.path.getsize(path) / 1e6))
            continue
        start = time.perf_counter()
        n_params = (export_family if family else export_one)(name, args.out)
        seconds = time.perf_counter() - start
        print("%-18s %8.1f MB  %11s params  %6.1f s  %s" % (
            name, os.path.getsize(path) / 1e6, format(n_params, ","), seconds,
            op_summary(path)))
    torchvision_names = [n for n in names if n in MODELS]
    if args.check and not check_with_xbarc(torchvision_names, args.out, args.check, args.repeat):
        sys.exit(1)
    families = [n for n in names if n in zoo_families.FAMILIES]
    if args.table and not zoo_table.table(families, args.out, args.table, args.repeat):
        sys.exit(1)


if __name__ == "__main__":
    main()
