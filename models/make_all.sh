#!/bin/sh
# Regenerate everything in models/: trained ONNX models, accuracy files,
# the digits test set and the ONNX-style reference data.
#
# Developers run this by hand when the models need to change; CI does NOT run
# it (CI only uses the committed outputs). Needs Debian's /usr/bin/python3
# with torch, onnx, numpy and sklearn, and Debian's Fashion-MNIST data set
# under /usr/share/datasets/fashion-mnist. Takes about a minute and a half
# on 2 cores. Idempotent: fixed seeds and deterministic kernels, so a rerun on
# the same machine rewrites the same files.
set -eu
cd "$(dirname "$0")"
PY=/usr/bin/python3

# Start from a clean slate so no stale reference data survives.
rm -rf lenet5 mlp_digits digits lenet5.onnx mlp_digits.onnx \
       lenet5.accuracy mlp_digits.accuracy

$PY train_lenet5.py
$PY train_mlp.py
$PY verify_models.py
