"""Runs the same models through the xbarc simulator and through onnxruntime-node
in one run and rewrites the simulation speed table of docs/benchmarks.md
(between its BEGIN/END sim markers), with the machine, the versions and the
issue-15 targets passed or failed.  Called by scripts/bench-sim; tooling only.

LeNet-5 (models/lenet5.onnx) over the 10,000 Fashion-MNIST test images, and,
from the zoo of models/export_zoo.py, torchvision ResNet-18 on one random
224x224 image, the CIFAR ResNet-20 on one 32x32 image and the BERT-style
encoder on 64 random token embeddings; ResNet-18's calibration on 512 random
images on 1 and 2 threads; a ResNet-50 run's peak memory.  CrossSim is a
column that says n/a: it is never fetched here (a copy in
$XBARC_CROSSSIM_DIR is noted, not yet run).  xbarc runs ideal (the default program, lossless ADCs, fast path) and
per read (the same model compiled with 8-bit ADCs, --noise rram: proportional
programming variation, stuck-at faults, 1% read noise; every read through the
DAC cycles and the ADC), on 1 thread and, for LeNet-5, on 2.

Two figures per row, each the best of --repeat runs, taken in rounds (every
runtime of a model once a round) so that a slow spell of a shared host does
not fall on one side of a ratio only:
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


def ort_best(best, out):
    """The better of two onnxruntime-node figures: the faster loop, the least wall and CPU."""
    if best is None:
        return out
    out = dict(out)
    out["wall"], out["cpu"] = min(out["wall"], best["wall"]), min(out["cpu"], best["cpu"])
    if best["seconds"] < out["seconds"]:
        out["seconds"], out["cpu_seconds"] = best["seconds"], best["cpu_seconds"]
    return out


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
        best = ort_best(best, out)
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


def run_rss(cmd):
    """Wall seconds and peak resident set (bytes) of one run of cmd."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode()
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{err}")
    return wall, usage.ru_maxrss * 1024


def machine():
    """CPU model, cores and load, for the table's note."""
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if ":" in line and line.split(":", 1)[0].strip() not in info:
                    info[line.split(":", 1)[0].strip()] = line.split(":", 1)[1].strip()
    except OSError:
        pass
    flags = info.get("flags", "").split()
    isa = "AVX-512 VNNI" if "avx512_vnni" in flags else "AVX-512" if "avx512f" in flags else \
        "AVX2" if "avx2" in flags else "no AVX2"
    model = (f"{info.get('model name', 'unknown CPU')} (family {info.get('cpu family', '?')}, model "
             f"{info.get('model', '?')}, {isa})")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{model}, {os.cpu_count()} cores, load average {load:.1f} at the start"


def version(cmd):
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return r.stdout.strip().splitlines()[0] if r.stdout.strip() else "?"
    except OSError:
        return "not found"


def crosssim_dir():
    """CrossSim, when a copy is already in the cache (never fetched here)."""
    d = os.environ.get("XBARC_CROSSSIM_DIR", os.path.expanduser("~/.cache/xbarc/crosssim"))
    return d if os.path.isdir(os.path.join(d, "simulator")) else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xbarc", required=True)
    ap.add_argument("--zoo", required=True)
    ap.add_argument("--ort", required=True, help="directory whose node_modules holds onnxruntime-node")
    ap.add_argument("--doc", required=True)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--limit", type=int, default=10000, help="LeNet-5 images")
    ap.add_argument("--calib-count", type=int, default=512, help="ResNet-18 calibration images (random)")
    ap.add_argument("--calib-repeat", type=int, default=None, help="runs of each calibration (default --repeat)")
    ap.add_argument("--only", default="", help="comma-separated: lenet,resnet18,resnet20,bert,calib,resnet50")
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))
    want = lambda part: not only or part in only
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    lenet = os.path.join(root, "models", "lenet5.onnx")
    ort_script = os.path.join(here, "bench_sim_ort.js")
    x = args.xbarc
    rows = []       # (model, what, wall, cpu, accuracy, loop seconds per image); ort rows have what == None
    ort_of = {}     # model -> onnxruntime-node's row
    figures = {}    # what the targets read
    notes = [machine(), f"{version([x, '--version'])}", f"node {version(['node', '--version'])}"]
    cs = crosssim_dir()
    notes.append(f"CrossSim: {'found in ' + cs + ' (not run by this script yet)' if cs else 'n/a (not in the cache)'}")
    with tempfile.TemporaryDirectory() as tmp:
        def path(name):
            return os.path.join(tmp, name)

        def compile_(model, out, extra):
            subprocess.run([x, "compile", model, "-o", out] + extra, check=True, stdout=subprocess.DEVNULL)

        def random_input(name, shape):
            subprocess.run(["/usr/bin/python3", "-c",
                            "import numpy as np, sys; np.random.seed(0); "
                            f"np.save(sys.argv[1], np.random.rand{shape}.astype(np.float32))", path(name)],
                           check=True)

        if want("lenet"):
            compile_(lenet, path("lenet.xbp"), [])
            compile_(lenet, path("lenet8.xbp"), ["--adc", "uniform:8"])
            n = args.limit
            eval_ = [x, "eval", "--dataset", "fashion-mnist", "--limit", str(n)]
            lenet_runs = [
                ("xbarc ideal (lossless ADCs, fast path)", [path("lenet.xbp"), "--threads", "1"]),
                ("xbarc per read: rram, 8-bit ADCs, 1 thread", [path("lenet8.xbp"), "--noise", "rram", "--seed", "1",
                                                                "--threads", "1"]),
                ("xbarc per read: rram, 8-bit ADCs, 2 threads", [path("lenet8.xbp"), "--noise", "rram", "--seed",
                                                                 "1", "--threads", "2"]),
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
            best = [None] * len(lenet_runs)     # in rounds, as for the single images below
            for _ in range(args.repeat):
                for i, (what, extra) in enumerate(lenet_runs):
                    wall, cpu, out = run_child(eval_[:2] + [extra[0]] + eval_[2:] + extra[1:], 1)
                    best[i] = (wall, cpu, out) if best[i] is None else (min(wall, best[i][0]), min(cpu, best[i][1]), out)
            for (what, _), (wall, cpu, out) in zip(lenet_runs, best):
                rows.append((lenet_name, what, wall, cpu, accuracy(out), wall / n))
                figures[("lenet", what)] = wall
                print(f"{lenet_name}: {what}: {wall:.2f} s wall, {cpu:.2f} s cpu", flush=True)

        # One input, one image: (key, name, model, input shape, calibration, xbarc runs: (label, program
        # options, run options, timed runs))
        ideal = "xbarc ideal (lossless ADCs, fast path)"
        per_read = ["--noise", "rram", "--seed", "1"]
        single = [
            ("resnet18", "ResNet-18, one 224x224 image", os.path.join(args.zoo, "resnet18.onnx"), (1, 3, 224, 224),
             [(ideal, [], [], 6), (ideal + ", 2 threads in the image", [], ["--threads", "2"], 6),
              ("xbarc per read: rram, 8-bit ADCs", ["--adc", "uniform:8"], per_read, 3)]),
            ("resnet20", "ResNet-20 (CIFAR), one 32x32 image", os.path.join(args.zoo, "resnet20_default.onnx"),
             (1, 3, 32, 32),
             [(ideal, [], [], 20), (ideal + ", 2 threads in the image", [], ["--threads", "2"], 20),
              ("xbarc per read: rram, 8-bit ADCs", ["--adc", "uniform:8"], per_read, 5)]),
            ("bert", "BERT encoder (zoo), 64 tokens x 128", os.path.join(args.zoo, "bert_default.onnx"), (1, 64, 128),
             [(ideal, [], [], 10), (ideal + ", 2 threads in the image", [], ["--threads", "2"], 10)]),
        ]
        for key, name, model, shape, runs in single:
            if not want(key):
                continue
            if not os.path.exists(model):
                notes.append(f"{name}: {model} missing (models/export_zoo.py)")
                continue
            random_input(key + ".npy", shape)
            # Rounds: onnxruntime-node once, then each xbarc row once, so that
            # a slow spell of a shared host falls on both sides of a ratio,
            # not on one block of runs (a VM's neighbours moved ResNet-18's
            # ideal loop from 40 to 57 ms for one block, 2026-12-06).
            cmds = []
            for what, compile_extra, extra, timed in runs:
                prog = path(f"{key}{'_'.join([''] + compile_extra).replace(':', '')}.xbp")
                if not os.path.exists(prog):
                    compile_(model, prog, ["--calib", "random", "--calib-count", "1"] + compile_extra)
                cmds.append([x, "run", prog, "--input", path(key + ".npy"), "-o", path("out")] + extra)
            ort, why, best = None, None, [None] * len(runs)
            for _ in range(args.repeat):
                if why is None:
                    got, why = ort_run(["image", model, path(key + ".npy"), "5"], args.ort, ort_script, 1)
                    ort = ort_best(ort, got) if got else ort
                for i, (cmd, (what, _, _, timed)) in enumerate(zip(cmds, runs)):
                    wall, cpu, _ = run_child(cmd, 1)
                    loop = loop_seconds(cmd, timed, 1)
                    old_best = best[i] or (wall, cpu, loop)
                    best[i] = (min(wall, old_best[0]), min(cpu, old_best[1]), min(loop, old_best[2]))
            if ort:
                rows.append((name, None, ort["wall"], ort["cpu"], None, ort["seconds"]))
                ort_of[name] = rows[-1]
                figures[(key, "ort")] = rows[-1]
                if not any(n.startswith("onnxruntime-node 1") for n in notes):
                    notes.append(f"onnxruntime-node {ort['version']}")
            else:
                notes.append(f"onnxruntime-node could not run {name}: {why}")
            for (what, _, _, _), (wall, cpu, loop) in zip(runs, best):
                rows.append((name, what, wall, cpu, None, loop))
                figures[(key, what)] = rows[-1]
                print(f"{name}: {what}: {wall:.2f} s wall, {cpu:.2f} s cpu, {loop * 1000:.1f} ms a run", flush=True)

        calib_rows = []
        if want("calib"):
            resnet = os.path.join(args.zoo, "resnet18.onnx")
            for threads in (1, 2):
                cmd = [x, "compile", resnet, "--calib", "random", "--calib-count", str(args.calib_count),
                       "--calib-threads", str(threads), "-o", path("calib.xbp")]
                wall, cpu, _ = run_child(cmd, args.calib_repeat or args.repeat)
                calib_rows.append((threads, wall, cpu))
                figures[("calib", threads)] = wall
                print(f"calibration, {threads} thread(s): {wall:.2f} s wall", flush=True)
        memory = None
        if want("resnet50") and os.path.exists(os.path.join(args.zoo, "resnet50.onnx")):
            compile_(os.path.join(args.zoo, "resnet50.onnx"), path("r50.xbp"), ["--calib", "random",
                                                                                "--calib-count", "1"])
            random_input("x224b.npy", (1, 3, 224, 224))
            _, rss = run_rss([x, "run", path("r50.xbp"), "--input", path("x224b.npy"), "-o", path("out")])
            memory = (rss, os.path.getsize(path("r50.xbp")))
            print(f"ResNet-50 run: peak {rss / 1e6:.0f} MB, program {memory[1] / 1e6:.0f} MB", flush=True)

    lines = [BEGIN, "",
             "| model | runtime | command wall (s) | command cpu (s) | command / onnxruntime-node's | "
             "loop, per image (ms, wall) | loop / onnxruntime-node's loop | accuracy | CrossSim |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for model, what, wall, cpu, acc, loop in rows:
        ort_row = ort_of.get(model)
        command_ratio = f"{wall / ort_row[2]:.1f}x" if ort_row else "n/a"
        loop_ratio = f"{loop / ort_row[5]:.2f}x" if ort_row else "n/a"
        lines.append(f"| {model} | {what or 'onnxruntime-node, float32, 1 thread'} | {wall:.3f} | {cpu:.3f} | "
                     f"{command_ratio if what else '1.0x'} | {1000 * loop:.3f} | {loop_ratio if what else '1.0x'} | "
                     f"{'' if acc is None else f'{acc:.4f}'} | n/a |")
    for threads, wall, cpu in calib_rows:
        lines.append(f"| ResNet-18, calibration on {args.calib_count} random images | `xbarc compile --calib-threads "
                     f"{threads}` | {wall:.3f} | {cpu:.3f} |  | {1000 * wall / args.calib_count:.3f} |  |  | n/a |")
    lines += ["", f"Generated by scripts/bench-sim on {time.strftime('%Y-%m-%d')} ({'; '.join(notes)}); "
              f"best of {args.repeat} runs, in rounds.  \"Command\": the whole process, start to exit (xbarc reads the "
              "program and programs the chip; node loads onnxruntime and the model and creates the session).  "
              "\"Loop, per image\": the time per image with everything ready: onnxruntime-node's loop around "
              "session.run; for one-image models on xbarc, `xbarc run --repeat N --time-runs` (the chip programmed "
              "once; the best run after the first); for LeNet-5 on xbarc, the whole command over the images; for "
              "calibration, the whole command over the images.", ""]

    def target(what, figure, limit, text):
        ok = "n/a" if figure is None else ("pass" if figure <= limit else "fail")
        shown = "n/a" if figure is None else text(figure)
        lines.append(f"| {what} | {shown} | {ok} |")

    def ratio(a, b):
        return a / b if a is not None and b else None

    r18, r18o = figures.get(("resnet18", ideal)), figures.get(("resnet18", "ort"))
    r18_2 = figures.get(("resnet18", ideal + ", 2 threads in the image"))
    r18_read = figures.get(("resnet18", "xbarc per read: rram, 8-bit ADCs"))
    l1 = figures.get(("lenet", "xbarc per read: rram, 8-bit ADCs, 1 thread"))
    l2 = figures.get(("lenet", "xbarc per read: rram, 8-bit ADCs, 2 threads"))
    lines += ["Targets (issue 15; benchmarks, not timed tests):", "",
              "| target | measured | pass/fail |", "|---|---:|---|"]
    target("ResNet-18 ideal loop at most 1.0x onnxruntime-node's", ratio(r18 and r18[5], r18o and r18o[5]), 1.0,
           lambda v: f"{v:.2f}x")
    target("ResNet-18 ideal `xbarc run` command at most onnxruntime-node's whole process",
           ratio(r18 and r18[2], r18o and r18o[2]), 1.0, lambda v: f"{v:.2f}x")
    target("ResNet-18 per read (rram, 8-bit ADCs) at most 0.75 s an image, 1 thread", r18_read and r18_read[5], 0.75,
           lambda v: f"{v:.3f} s")
    target("LeNet-5 per read, 10,000 images, at most 3 s on 1 thread", l1, 3.0, lambda v: f"{v:.2f} s")
    target("LeNet-5 per read on 2 threads at least 1.8x faster than 1", ratio(l2, l1), 1 / 1.8,
           lambda v: f"{1 / v:.2f}x")
    target("ResNet-18 one image (ideal loop) on 2 threads at least 1.6x faster than 1",
           ratio(r18_2 and r18_2[5], r18 and r18[5]), 1 / 1.6, lambda v: f"{1 / v:.2f}x")
    c1, c2 = figures.get(("calib", 1)), figures.get(("calib", 2))
    target(f"ResNet-18 calibration on {args.calib_count} images in seconds, not minutes (under 60 s), 1 thread",
           c1, 60.0, lambda v: f"{v:.1f} s")
    target("the same on 2 threads (`--calib-threads 2`)", c2, 60.0, lambda v: f"{v:.1f} s")
    target("ResNet-50 run's peak memory at most 1.5x its program's size", memory and memory[0] / memory[1], 1.5,
           lambda v: f"{v:.2f}x ({memory[0] / 1e6:.0f} MB / {memory[1] / 1e6:.0f} MB)")
    lines += ["", END]
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
    print("\n".join(lines[2:-2]))


if __name__ == "__main__":
    main()
