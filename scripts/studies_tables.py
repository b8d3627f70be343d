#!/usr/bin/env python3
"""Formats the studies' CSV files as the markdown of docs/studies.md.

Only formatting: every number comes from the CSV files 'xbarc sweep' wrote
(scripts/studies runs the sweeps).  Rewrites the text between
'<!-- studies:KEY -->' and '<!-- /studies:KEY -->' for the keys below,
leaving a key whose files are missing as it was.
"""
import argparse
import csv
import os
import platform
import re
import statistics
import sys


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def machine():
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%d cores, %s" % (os.cpu_count() or 0, model)


def command_block(work, name):
    cmd = open(os.path.join(work, name + ".cmd")).read().strip()
    seconds = open(os.path.join(work, name + ".seconds")).read().strip()
    cmd = cmd[2:] if cmd.startswith("+ ") else cmd
    # one option per line, as a reader would type it
    cmd = re.sub(r" (--vary|--noise|--jobs|-o) ", r" \\\n    \1 ", cmd, count=0)
    cmd = re.sub(r"(--vary [^\\\n]*) \\\n    (--vary)", r"\1 \2", cmd)
    return ("```\n%s\n```\n\nWall time on this machine (%s, shared with other jobs): %s s.\n"
            % (cmd, machine(), seconds))


def square(rows):
    return [r for r in rows if r["rows"] == r["cols"]]


def resnet18_table(rows):
    out = ["| rows = cols | ADC bits | cell bits | tiles | utilization | energy / image (uJ) "
           "| area (mm^2) | latency (ms) | TOPS/W |",
           "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in square(rows):
        out.append("| %s | %s | %s | %s | %.1f%% | %.0f | %.1f | %.1f | %.2f |" % (
            r["rows"], r["adc_bits"], r["cell_bits"], r["tiles"],
            100 * float(r["utilization"]), float(r["energy_pj"]) / 1e6,
            float(r["area_mm2"]), float(r["latency_ns"]) / 1e6, float(r["tops_per_w"])))
    return "\n".join(out) + "\n"


def lenet5_table(rows):
    points = {}
    for r in square(rows):
        points.setdefault(r["point"], []).append(r)
    out = ["| rows = cols | ADC bits | cell bits | accuracy (mean of seeds) | min - max "
           "| float | energy / image (nJ) | area (mm^2) | tiles | utilization |",
           "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for seeds in points.values():
        r = seeds[0]
        acc = [float(s["accuracy"]) for s in seeds]
        out.append("| %s | %s | %s | %.1f%% | %.1f - %.1f | %.1f%% | %.0f | %.3f | %s | %.1f%% |" % (
            r["rows"], r["adc_bits"], r["cell_bits"], 100 * statistics.mean(acc),
            100 * min(acc), 100 * max(acc), 100 * float(r["float_accuracy"]),
            float(r["energy_pj"]) / 1e3, float(r["area_mm2"]), r["tiles"],
            100 * float(r["utilization"])))
    return "\n".join(out) + "\n"


def front_block(work):
    """The Pareto front 'xbarc plot --print-front' printed, as a table."""
    out = ["| energy / image (nJ) | accuracy | rows | cols | ADC bits | cell bits |",
           "|---:|---:|---:|---:|---:|---:|"]
    for line in open(os.path.join(work, "lenet5.front")):
        if not line.startswith("front:"):
            continue
        f = dict(item.split("=", 1) for item in line.split()[1:])
        out.append("| %.0f | %.1f%% | %s | %s | %s | %s |" % (
            float(f["energy_pj"]) / 1e3, 100 * float(f["accuracy"]), f["rows"], f["cols"],
            f["adc_bits"], f["cell_bits"]))
    return "\n".join(out) + "\n"


def replace(doc, key, text):
    pattern = re.compile(r"(<!-- studies:%s -->\n).*?(<!-- /studies:%s -->)" % (key, key), re.S)
    if not pattern.search(doc):
        sys.exit("studies_tables: no markers for '%s' in the document" % key)
    return pattern.sub(lambda m: m.group(1) + text + m.group(2), doc)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--doc", required=True)
    ap.add_argument("--work", required=True, help="where scripts/studies left the runs")
    args = ap.parse_args()
    doc = open(args.doc).read()
    here = lambda f: os.path.exists(os.path.join(args.work, f))
    if here("resnet18.csv") and here("resnet18.seconds"):
        rows = read_rows(os.path.join(args.work, "resnet18.csv"))
        doc = replace(doc, "resnet18-command", command_block(args.work, "resnet18"))
        doc = replace(doc, "resnet18-table", resnet18_table(rows))
    if here("lenet5.csv") and here("lenet5.seconds"):
        rows = read_rows(os.path.join(args.work, "lenet5.csv"))
        doc = replace(doc, "lenet5-command", command_block(args.work, "lenet5"))
        doc = replace(doc, "lenet5-table", lenet5_table(rows))
        if here("lenet5.front"):
            doc = replace(doc, "lenet5-front", front_block(args.work))
    open(args.doc, "w").write(doc)


if __name__ == "__main__":
    main()
