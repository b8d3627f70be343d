"""Checks of `xbarc sweep`'s results against other commands (tests/lit/sweep).

  rows CSV N                   the CSV has N rows
  row CSV AXIS=V... seed=S     prints that row's cells as NAME=VALUE lines
  eval CSV KEYS... EVAL STATS  the row's accuracy is the line `xbarc eval`
                               printed (EVAL) and its performance figures are
                               eval --stats-json's (STATS), to 1e-9 relative
  summary CSV                  the summary table sweep prints, recomputed from
                               the rows: per point, mean, sample std, min, max
  mapping CSV KEYS... REPORT   the row's tiles and utilization are those of
                               compile --report-json (the mapping report)
"""
import csv, json, math, sys


def table(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def find(rows, keys):
    want = dict(k.split("=", 1) for k in keys)
    hits = [r for r in rows if all(float(r[k]) == float(v) if k == "seed" or _num(v) else r[k] == v
                                   for k, v in want.items())]
    if len(hits) != 1:
        sys.exit(f"{len(hits)} rows match {want}")
    return hits[0]


def _num(v):
    try:
        float(v)
        return True
    except ValueError:
        return False


def close(a, b, what):
    if not math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12):
        sys.exit(f"{what}: sweep {a}, other {b}")


def main(argv):
    mode, path = argv[1], argv[2]
    rows = table(path)
    if mode == "rows":
        if len(rows) != int(argv[3]):
            sys.exit(f"{len(rows)} rows, not {argv[3]}")
    elif mode == "row":
        for k, v in find(rows, argv[3:]).items():
            print(f"{k}={v}")
    elif mode == "eval":
        row = find(rows, argv[3:-2])
        line = open(argv[-2]).read().strip()
        mine = f"accuracy: {float(row['accuracy']):.4f} ({int(float(row['images']))} images)"
        if line != mine:
            sys.exit(f"eval printed '{line}', the sweep's row says '{mine}'")
        stats = json.load(open(argv[-1]))
        close(row["area_mm2"], stats["area_mm2"]["total"], "area_mm2")
        for key in ("energy_pj", "latency_ns", "images_per_s", "tops_per_w", "tiles"):
            close(row[key], stats[key], key)
    elif mode == "summary":
        points = {}
        for r in rows:
            points.setdefault(int(r["point"]), []).append(r)
        for p in sorted(points):
            acc = [float(r["accuracy"]) for r in points[p]]
            n = len(acc)
            mean = sum(acc) / n
            std = math.sqrt(sum((a - mean) ** 2 for a in acc) / (n - 1)) if n > 1 else 0.0
            print(f"{mean:.4f} {std:.4f} {min(acc):.4f} {max(acc):.4f}")
    elif mode == "mapping":
        row = find(rows, argv[3:-1])
        report = json.load(open(argv[-1]))
        totals = report.get("totals", report)
        close(row["tiles"], totals["tiles"], "tiles")
        close(row["utilization"], totals["utilization"], "utilization")
    else:
        sys.exit(f"unknown mode {mode}")


main(sys.argv)
