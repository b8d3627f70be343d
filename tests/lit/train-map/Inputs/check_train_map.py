"""Recomputes the training section of a mapping report (docs/train-mapping.md)
from the printed geometry alone, with the ISAAC figures of docs/perf.md 1
written out here, and prints each figure with the report's value:
'NAME ok VALUE' when they agree, 'NAME MISMATCH mine=... report=...' else.

Assumes --packing none (every block on its own tile at (0, 0), split
balanced) and the default figures; usage: check_train_map.py REPORT.json"""
import json
import math
import sys

r = json.load(open(sys.argv[1]))
arch, t = r["arch"], r["training"]
rows, cols, per_adc = arch["rows"], arch["cols"], arch["cols_per_adc"]
adc_bits, wb = arch["adc_bits"], arch["weight_bits"]
sign, cell_bits = arch["sign"], arch["cell_bits"]
# docs/perf.md 1 (ISAAC, Table II)
read_ns, conv_ns, gops = 100.0, 1 / 1.28, 1.2
dac, sh, adc8, sa = 0.00017 / 1024, 0.00004 / 1024, 0.0012, 0.00024 / 8
xbar, regs, edram_kb, per_digital = 0.0002 / 8, (0.0021 + 0.00077) / 8, 0.083 / 64, 96
digital = 0.083 + 0.090 + 0.0006 + 0.00006 + 0.00024 + 0.0032
bl, pulse = t["bl"], t["pulse_ns"]
alg = t["algorithm"]

# the training mapping's cells (docs/train-mapping.md 1)
mapping = {"offset": "device"}.get(sign, "pair")
magnitude = wb if sign == "offset" else wb - 1
slices = -(-magnitude // cell_bits)
if mapping == "pair" and slices == 2:
    mapping = "split"
polarities = 1 if sign == "offset" else 2
refs = slices if sign == "offset" else 0
print("mapping", mapping, "slices", slices, "cell_bits", cell_bits)

fails = 0
def check(name, mine, theirs, tol=1e-9):
    global fails
    good = abs(mine - theirs) <= tol * max(1.0, abs(mine))
    fails += not good
    print(name, "ok %.6g" % mine if good else "MISMATCH mine=%r report=%r" % (mine, theirs))

def split(total, part):
    parts = -(-total // part)
    base, larger = divmod(total, parts)
    return [base + (i < larger) for i in range(parts)]

byname = {L["name"]: L for L in r["layers"]}
trained_tiles = 0
buffers = 0
times = []
for i, T in enumerate(t["layers"]):
    L = byname[T["name"]]
    K, N = L["rows"] * L["groups"], L["columns"] * L["groups"]
    per_block = (cols - refs) // (slices * polarities)
    row_blocks, col_blocks = split(K, rows), split(N, per_block)
    blocks = len(row_blocks) * len(col_blocks)
    check(T["name"] + " blocks", blocks, T["blocks"])
    check(T["name"] + " tiles", blocks, T["tiles"])      # one block per tile
    check(T["name"] + " fast_tiles", blocks if alg == "ttv2" else 0, T["fast_tiles"])
    buf = K * N * 4 if alg in ("mixed", "ttv2") else 0
    check(T["name"] + " buffer_bytes", buf, T["buffer_bytes"])
    trained_tiles += blocks
    buffers += buf
    # backward: 2 passes x 7 cycles of signed 8-bit errors (1-bit DAC) per
    # slice; the row-side ADCs convert min(block rows, cols_per_adc) rows each
    steps = slices * 2 * math.ceil((arch["input_bits"] - 1) / arch["dac_bits"])
    back = 0 if i == 0 else steps * (read_ns + min(max(row_blocks), per_adc) * conv_ns)
    check(T["name"] + " backward_ns", back, T["backward_ns"], 1e-6)
    # update: BL slots; mixed: chi += x delta (2 ops a weight); ttv2: a read
    # of A (its busiest forward ADC), H += that column, one pulse on C
    upd = bl * pulse
    if alg == "mixed":
        upd += 2 * K * N / gops
    if alg == "ttv2":
        width = max(col_blocks) * slices * polarities + refs
        turns = min(width // 2, per_adc // 2) if sign == "pair-analog" else min(width, per_adc)
        upd += read_ns + turns * conv_ns + N / gops + pulse
    check(T["name"] + " update_ns", upd, T["update_ns"], 1e-6)
    times.append((T["forward_ns"], back, upd))

extra = trained_tiles if alg == "ttv2" else 0
check("trained_tiles", trained_tiles, t["trained_tiles"])
check("extra_tiles", extra, t["extra_tiles"])
check("buffer_bytes", buffers, t["buffer_bytes"])
row_adcs = -(-rows // per_adc)
periphery = trained_tiles * (cols * dac + rows * sh + row_adcs * (adc8 * 2 ** (adc_bits - 8) + sa))
drivers = (trained_tiles + extra) * (rows + cols) * dac
tile = xbar * rows * cols / 16384 + rows * dac + cols * sh + regs + (-(-cols // per_adc)) * (adc8 * 2 ** (adc_bits - 8) + sa)
tiles = t["tiles"]
clusters = math.ceil((tiles + extra) / per_digital) - math.ceil(tiles / per_digital)
added = periphery + drivers + extra * tile + clusters * digital + buffers / 1024 * edram_kb
check("area added", added, t["area_mm2"]["added"], 1e-9)
# one step: forward, then backward reads from the last layer down, each
# layer's update after its own backward read
clock, step = t["forward_ns"], 0
for fwd, back, upd in reversed(times):
    clock += back
    step = max(step, clock + upd)
check("step_ns", step, t["step_ns"], 1e-6)
print("FAILED" if fails else "ALL OK")
