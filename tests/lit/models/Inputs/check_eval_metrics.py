#!/usr/bin/python3
"""Checks `xbarc eval --metrics-json` output (argv[1]) for consistency and
against the independent reference of make_eval_metrics.py (argv[2]).

  check_eval_metrics.py XBARC.json EXPECTED.json [--accuracy MODEL.accuracy] [--flips N]

Consistency: top-5 >= top-1; per-class accuracies weighted by class counts
average to top-1; confusion row sums are the class counts, its trace the
correct count, its total the image count.  Against the reference: the same
images and class counts; xbarc runs float32, the reference float64, so an
argmax may flip on a near-tie: at most N images (default 0) may be classified
differently (half the confusion matrices' absolute difference) and the
correct and top-5 counts may differ by at most N.  With --accuracy, top-1
printed to 4 places equals the recorded 'accuracy: A (N images)' line.
"""
import json
import sys


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def main():
    args = sys.argv[1:]
    flips, accuracy = 0, None
    if "--flips" in args:
        i = args.index("--flips")
        flips = int(args[i + 1])
        del args[i:i + 2]
    if "--accuracy" in args:
        i = args.index("--accuracy")
        accuracy = open(args[i + 1]).read()
        del args[i:i + 2]
    got = json.load(open(args[0]))
    want = json.load(open(args[1]))
    n, k = got["images"], got["classes"]
    cm, per = got["confusion"], got["per_class"]
    if got["top5"] < got["top1"]:
        fail("top-5 %g below top-1 %g" % (got["top5"], got["top1"]))
    if len(per) != k or len(cm) != k or any(len(row) != k for row in cm):
        fail("per-class or confusion size is not %d" % k)
    weighted = sum(c["count"] * c["accuracy"] for c in per) / n
    if abs(weighted - got["top1"]) > 1e-12 or sum(c["correct"] for c in per) != got["correct"]:
        fail("per-class accuracies average to %.17g, top-1 is %.17g" % (weighted, got["top1"]))
    if abs(got["correct"] / n - got["top1"]) > 1e-15 or abs(got["correct_top5"] / n - got["top5"]) > 1e-15:
        fail("top-1 or top-5 is not its count over the images")
    for c in range(k):
        if sum(cm[c]) != per[c]["count"]:
            fail("confusion row %d sums to %d, class count %d" % (c, sum(cm[c]), per[c]["count"]))
    if sum(cm[c][c] for c in range(k)) != got["correct"] or sum(map(sum, cm)) != n:
        fail("confusion trace or total differs from the correct or image count")
    if accuracy is not None and accuracy.strip() != "accuracy: %.4f (%d images)" % (got["top1"], n):
        fail("top-1 %.4f over %d images, recorded: %s" % (got["top1"], n, accuracy.strip()))
    # against the reference
    if n != want["images"] or [c["count"] for c in per] != [c["count"] for c in want["per_class"]]:
        fail("images or class counts differ from the reference")
    moved = sum(abs(a - b) for ra, rb in zip(cm, want["confusion"]) for a, b in zip(ra, rb)) // 2
    d1, d5 = abs(got["correct"] - want["correct"]), abs(got["correct_top5"] - want["correct_top5"])
    print("vs reference: %d images classified differently, correct %+d, top-5 %+d"
          % (moved, got["correct"] - want["correct"], got["correct_top5"] - want["correct_top5"]))
    if moved > flips or d1 > flips or d5 > flips:
        fail("more than %d image(s) differ from the reference" % flips)
    print("ok: top-1 %.4f, top-5 %.4f, %d classes, %d images" % (got["top1"], got["top5"], k, n))


if __name__ == "__main__":
    main()
