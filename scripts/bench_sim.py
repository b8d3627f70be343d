"""Runs the same models through the xbarc simulator and through onnxruntime-node
in one run and rewrites the simulation speed table of docs/benchmarks.md
(between its BEGIN/END sim markers).  Called by scripts/bench-sim; tooling only.

LeNet-5 (models/lenet5.onnx) over the 10,000 Fashion-MNIST test images, and
torchvision ResNet-18 (the zoo of models/export_zoo.py) on one random 224x224
image.  xbarc runs ideal (the default program, lossless ADCs, fast path) and
per read (the same model compiled with 8-bit ADCs, --noise rram: proportional
programming variation, stuck-at faults, 1% read noise; every read through the
DAC cycles and the ADC), on 1 thread and, for LeNet-5, on 2.  Times are the
whole command (process start, reading the program and the data, programming
the chip); onnxruntime-node's are its inference loop alone, on one thread
(scripts/bench_sim_ort.js).  Each figure is the best of --repeat runs, wall
time and the CPU time (user + system) the kernel accounted to the process."""
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


def ort_run(args, ort_dir, script):
    env = dict(os.environ, NODE_PATH=os.path.join(ort_dir, "node_modules"))
    r = subprocess.run(["node", script] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    if r.returncode != 0:
        return None, (r.stderr.strip() or "failed")
    return json.loads(r.stdout.strip().splitlines()[-1]), None


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
    rows = []       # (model, what, wall, cpu, accuracy, ort wall) ; ort rows have what == None
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
                            f"{FASHION}/t10k-labels-idx1-ubyte.gz", str(n)], args.ort, ort_script)
        lenet_name = f"LeNet-5, {n:,} images"
        if ort:
            rows.append((lenet_name, None, ort["seconds"], ort["cpu_seconds"], ort["accuracy"], ort["seconds"]))
            notes.append(f"onnxruntime-node {ort['version']}")
        else:
            notes.append(f"onnxruntime-node could not run LeNet-5: {why}")
        for what, extra in lenet_runs:
            wall, cpu, out = run_child(eval_[:2] + [extra[0]] + eval_[2:] + extra[1:], args.repeat)
            rows.append((lenet_name, what, wall, cpu, accuracy(out), ort["seconds"] if ort else None))
            print(f"{lenet_name}: {what}: {wall:.2f} s wall, {cpu:.2f} s cpu", flush=True)

        ort, why = ort_run(["image", resnet, path("x224.npy"), "5"], args.ort, ort_script)
        r18_name = "ResNet-18, one 224x224 image"
        if ort:
            rows.append((r18_name, None, ort["seconds"], ort["cpu_seconds"], None, ort["seconds"]))
        else:
            notes.append(f"onnxruntime-node could not run ResNet-18: {why}")
        for what, prog, extra in [("xbarc ideal (lossless ADCs, fast path)", "r18.xbp", []),
                                  ("xbarc per read: rram, 8-bit ADCs", "r18_8.xbp",
                                   ["--noise", "rram", "--seed", "1"])]:
            wall, cpu, _ = run_child([x, "run", path(prog), "--input", path("x224.npy"), "-o", path("out")] + extra,
                                     args.repeat)
            rows.append((r18_name, what, wall, cpu, None, ort["seconds"] if ort else None))
            print(f"{r18_name}: {what}: {wall:.2f} s wall, {cpu:.2f} s cpu", flush=True)

    lines = [BEGIN, "",
             "| model | runtime | wall (s) | cpu (s) | per image (ms, wall) | wall / onnxruntime-node | accuracy |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for model, what, wall, cpu, acc, ort_wall in rows:
        images = 1 if model.startswith("ResNet") else args.limit
        ratio = f"{wall / ort_wall:.1f}x" if ort_wall else "n/a"
        lines.append(f"| {model} | {what or 'onnxruntime-node, float32, 1 thread'} | {wall:.3f} | "
                     f"{cpu:.3f} | {1000 * wall / images:.3f} | {ratio if what else '1.0x'} | "
                     f"{'' if acc is None else f'{acc:.4f}'} |")
    lines += ["", f"Generated by scripts/bench-sim on {time.strftime('%Y-%m-%d')} ({'; '.join(notes)}); "
              f"best of {args.repeat} runs. xbarc times are whole commands, onnxruntime-node's its inference "
              "loop alone (session and data ready).", "", END]
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
