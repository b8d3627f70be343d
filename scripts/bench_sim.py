"""Runs the same models through the xbarc simulator and through onnxruntime-node
in one run and rewrites the simulation speed table of docs/benchmarks.md
(between its BEGIN/END sim markers).  Called by scripts/bench-sim; tooling only.

LeNet-5 (models/lenet5.onnx) over the 10,000 Fashion-MNIST test images, and
torchvision ResNet-18 (the zoo of models/export_zoo.py) on one random 224x224
image.  xbarc runs ideal (the default program, lossless ADCs, fast path) and
per read (the same model compiled with 8-bit ADCs, --noise rram: proportional
programming variation, stuck-at faults, 1% read noise; every read through the
DAC cycles and the ADC), on 1 thread and, for LeNet-5, on 2.

Two figures per row, each the best of --repeat runs:
- the whole command: wall time and the CPU time (user + system) the kernel
  accounted to the process, from process start (xbarc: reading the program and
  the data, programming the chip; onnxruntime-node: starting node, loading the
  model, creating the session) to exit;
- the timed loop, per image, with everything ready: onnxruntime-node's loop
  around session.run (scripts/bench_sim_ort.js: for ResNet-18 one warm-up run,
  then the best of 5); for ResNet-18 on xbarc, `xbarc run --repeat N
  --time-runs` on the chip programmed once, the best of runs 2..N (run 1 is the
  warm-up).  LeNet-5 on xbarc has no separate loop figure: its per-image time
  is the whole command over the 10,000 images (the setup is a few ms of it).
The issue-5 target compares the two timed loops (like for like)."""
import argparse, json, os, re, subprocess, sys, tempfile, time

BEGIN, END = "<!-- BEGIN sim (scripts/bench-sim) -->", "<!-- END sim -->"
FASHION = "/usr/share/datasets/fashion-mnist"


def run_child(cmd, repeat):
    """Best wall and CPU seconds (the child's user + system) of `repeat` runs, and the last stdout."""
    best_wall = best_cpu = None
    out = ""
    for _ in range(repeat):
        before = os.times()
        t0 = time.perf_counter()
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - t0
        after = os.times()
        if r.returncode != 0:
            sys.exit(f"failed: {' '.join(cmd)}\n{r.stderr}")
        cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
        best_wall = wall if best_wall is None else min(best_wall, wall)
        best_cpu = cpu if best_cpu is None else min(best_cpu, cpu)
        out = r.stdout
    return best_wall, best_cpu, out


def accuracy(text):
    m = re.search(r"^accuracy: ([0-9.]+)", text, re.M)
    return float(m.group(1)) if m else None


def ort_run(args, ort_dir, script, repeat):
    """onnxruntime-node's loop figures (JSON, the run with the fastest loop) and its
    best whole-process wall and CPU seconds, or None and why not."""
    env = dict(os.environ, NODE_PATH=os.path.join(ort_dir, "node_modules"))
    best = None
    for _ in range(repeat):
        before = os.times()
        t0 = time.perf_counter()
        r = subprocess.run(["node", script] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=env)
        wall = time.perf_counter() - t0
        after = os.times()
        if r.returncode != 0:
            return None, (r.stderr.strip() or "failed")
        cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
        out = json.loads(r.stdout.strip().splitlines()[-1])
        out["wall"], out["cpu"] = wall, cpu
        if best is not None:
            out["wall"], out["cpu"] = min(wall, best["wall"]), min(cpu, best["cpu"])
            if best["seconds"] < out["seconds"]:
                out["seconds"], out["cpu_seconds"] = best["seconds"], best["cpu_seconds"]
        best = out
    return best, None


def loop_seconds(cmd, runs, repeat):
    """Best seconds of one run of `xbarc run --repeat runs --time-runs`, run 1
    (the warm-up) left out, over `repeat` commands."""
    best = None
    for _ in range(repeat):
        r = subprocess.run(cmd + ["--repeat", str(runs), "--time-runs"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            sys.exit(f"failed: {' '.join(cmd)}\n{r.stderr}")
        times = [float(m.group(2)) for m in re.finditer(r"^run (\d+): ([0-9.]+) s wall", r.stderr, re.M)
                 if m.group(1) != "1"]
        best = min(times + ([best] if best is not None else []))
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xbarc", required=True)
    ap.add_argument("--zoo", required=True)
    ap.add_argument("--ort", required=True, help="directory whose node_modules holds onnxruntime-node")
    ap.add_argument("--doc", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--limit", type=int, default=10000, help="LeNet-5 images")
    args = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    lenet = os.path.join(root, "models", "lenet5.onnx")
    resnet = os.path.join(args.zoo, "resnet18.onnx")
    ort_script = os.path.join(here, "bench_sim_ort.js")
    x = args.xbarc
    rows = []       # (model, what, wall, cpu, accuracy, loop seconds per image); ort rows have what == None
    ort_of = {}     # model -> onnxruntime-node's row
    notes = []
    with tempfile.TemporaryDirectory() as tmp:
        def path(name):
            return os.path.join(tmp, name)

        def compile_(model, out, extra):
            subprocess.run([x, "compile", model, "-o", out] + extra, check=True, stdout=subprocess.DEVNULL)

        compile_(lenet, path("lenet.xbp"), [])
        compile_(lenet, path("lenet8.xbp"), ["--adc", "uniform:8"])
        compile_(resnet, path("r18.xbp"), ["--calib", "random", "--calib-count", "1"])
        compile_(resnet, path("r18_8.xbp"), ["--calib", "random", "--calib-count", "1", "--adc", "uniform:8"])
        # one random image in [0, 1), the same file for both runtimes
        subprocess.run(["/usr/bin/python3", "-c",
                        "import numpy as np, sys; np.random.seed(0); "
                        "np.save(sys.argv[1], np.random.rand(1, 3, 224, 224).astype(np.float32))",
                        path("x224.npy")], check=True)

        n = args.limit
        eval_ = [x, "eval", "--dataset", "fashion-mnist", "--limit", str(n)]
        lenet_runs = [
            ("xbarc ideal (lossless ADCs, fast path)", [path("lenet.xbp"), "--threads", "1"]),
            ("xbarc per read: rram, 8-bit ADCs, 1 thread", [path("lenet8.xbp"), "--noise", "rram", "--seed", "1",
                                                            "--threads", "1"]),
            ("xbarc per read: rram, 8-bit ADCs, 2 threads", [path("lenet8.xbp"), "--noise", "rram", "--seed", "1",
                                                             "--threads", "2"]),
        ]
        ort, why = ort_run(["dataset", lenet, f"{FASHION}/t10k-images-idx3-ubyte.gz",
                            f"{FASHION}/t10k-labels-idx1-ubyte.gz", str(n)], args.ort, ort_script, args.repeat)
        lenet_name = f"LeNet-5, {n:,} images"
        if ort:
            rows.append((lenet_name, None, ort["wall"], ort["cpu"], ort["accuracy"], ort["seconds"] / n))
            ort_of[lenet_name] = rows[-1]
            notes.append(f"onnxruntime-node {ort['version']}")
        else:
            notes.append(f"onnxruntime-node could not run LeNet-5: {why}")
        for what, extra in lenet_runs:
            wall, cpu, out = run_child(eval_[:2] + [extra[0]] + eval_[2:] + extra[1:], args.repeat)
            rows.append((lenet_name, what, wall, cpu, accuracy(out), wall / n))
            print(f"{lenet_name}: {what}: {wall:.2f} s wall, {cpu:.2f} s cpu", flush=True)

        ort, why = ort_run(["image", resnet, path("x224.npy"), "5"], args.ort, ort_script, args.repeat)
        r18_name = "ResNet-18, one 224x224 image"
        if ort:
            rows.append((r18_name, None, ort["wall"], ort["cpu"], None, ort["seconds"]))
            ort_of[r18_name] = rows[-1]
        else:
            notes.append(f"onnxruntime-node could not run ResNet-18: {why}")
        for what, prog, extra, runs in [("xbarc ideal (lossless ADCs, fast path)", "r18.xbp", [], 6),
                                        ("xbarc per read: rram, 8-bit ADCs", "r18_8.xbp",
                                         ["--noise", "rram", "--seed", "1"], 3)]:
            cmd = [x, "run", path(prog), "--input", path("x224.npy"), "-o", path("out")] + extra
            wall, cpu, _ = run_child(cmd, args.repeat)
            loop = loop_seconds(cmd, runs, args.repeat)
            rows.append((r18_name, what, wall, cpu, None, loop))
            print(f"{r18_name}: {what}: {wall:.2f} s wall, {cpu:.2f} s cpu, {loop:.3f} s a run", flush=True)

    lines = [BEGIN, "",
             "| model | runtime | command wall (s) | command cpu (s) | command / onnxruntime-node's | "
             "loop, per image (ms, wall) | loop / onnxruntime-node's loop | accuracy |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for model, what, wall, cpu, acc, loop in rows:
        ort_row = ort_of.get(model)
        command_ratio = f"{wall / ort_row[2]:.1f}x" if ort_row else "n/a"
        loop_ratio = f"{loop / ort_row[5]:.1f}x" if ort_row else "n/a"
        lines.append(f"| {model} | {what or 'onnxruntime-node, float32, 1 thread'} | {wall:.3f} | {cpu:.3f} | "
                     f"{command_ratio if what else '1.0x'} | {1000 * loop:.3f} | {loop_ratio if what else '1.0x'} | "
                     f"{'' if acc is None else f'{acc:.4f}'} |")
    lines += ["", f"Generated by scripts/bench-sim on {time.strftime('%Y-%m-%d')} ({'; '.join(notes)}); "
              f"best of {args.repeat} runs.  \"Command\": the whole process, start to exit (xbarc reads the "
              "program and programs the chip; node loads onnxruntime and the model and creates the session).  "
              "\"Loop, per image\": the time per image with everything ready: onnxruntime-node's loop around "
              "session.run; for ResNet-18 on xbarc, `xbarc run --repeat N --time-runs` (the chip programmed "
              "once; the best run after the first); for LeNet-5 on xbarc, the whole command over the images.",
              "", END]
    with open(args.doc) as f:
        doc = f.read()
    block = "\n".join(lines)
    if BEGIN in doc and END in doc:
        doc = doc[:doc.index(BEGIN)] + block + doc[doc.index(END) + len(END):]
    else:
        heading = "## Simulation speed"
        if heading not in doc:
            doc = doc.rstrip("\n") + f"\n\n{heading}\n\n"
        i = doc.index(heading) + len(heading)
        doc = doc[:i] + "\n\n" + block + "\n" + doc[i:].lstrip("\n")
    with open(args.doc + ".tmp", "w") as f:
        f.write(doc)
    os.replace(args.doc + ".tmp", args.doc)
    print("\n".join(lines[2:-3]))


if __name__ == "__main__":
    main()
