#!/usr/bin/env python3
"""Writes the hostile programs of tests/lit/backend/hostile-*.test (issue 9).

Each file is a small valid program (one of the two bases below) with one
field changed, so that its test names exactly what the reader or checker
must refuse.  The .xbp files are committed; rerun this script (from any
directory) only to regenerate them after a format change:

    python3 tests/lit/backend/Inputs/make_hostile.py
"""
import gzip
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tools"))
import xbp  # noqa: E402

ARCH = {"rows": 4, "cols": 8, "cell_bits": 2, "g_min_us": 1.0, "g_max_us": 100.0, "weight_bits": 8,
        "weight_per_layer": 0, "input_bits": 8, "dac_bits": 2, "adc_bits": 8, "cols_per_adc": 8,
        "sign": xbp.PAIR_ANALOG, "tiles": 0}


def buf(name, kind, dims, wide=0, offset=0):
    return {"name": name, "kind": kind, "wide": wide, "dims": dims, "offset": offset}


def layer():
    """x[1,4] -> quant -> mvm (a 4 x 8 block, pair-analog, 4 slices of 2 bits)
    -> combine -> dequant -> relu -> y[1,1]: every crossbar opcode once."""
    p = xbp.Program()
    p.arch = dict(ARCH)
    p.consts = [0.5]
    p.buffers = [buf("x", xbp.INPUT, [1, 4]), buf("x.codes", xbp.TEMP, [1, 4]), buf("fc.block0", xbp.TEMP, [1, 4]),
                 buf("fc.acc", xbp.TEMP, [1, 1], wide=1), buf("fc.bias", xbp.CONST, [1]),
                 buf("fc", xbp.TEMP, [1, 1]), buf("y", xbp.OUTPUT, [1, 1])]
    p.tiles = [{"rows": 4, "cols": 8, "encoding": 0, "writes": 0, "cells": bytes([0x11, 0x01] * 4)}]
    head = {"src": [1, -1, -1], "layer": "fc"}
    p.instrs = [
        {"opcode": xbp.QUANT, "dst": 1, "src": [0, -1, -1], "layer": "fc", "scale": 1 / 255, "bits": 8,
         "is_signed": 0, "float_mode": 0},
        dict(head, opcode=xbp.MVM, dst=2, tile=0, tile_row=0, tile_col=0, rows=4, src_col=0, phys_cols=8,
             out_cols=4, dac_bits=2, in_bits=8, in_signed=0, sign=xbp.PAIR_ANALOG, adc_bits=8, adc_max=127.0,
             float_mode=0, row_begin=0, row_end=1),
        dict(head, opcode=xbp.COMBINE, dst=3, src=[2, -1, -1], group=0, n0=0, n_cols=1, n_per_group=1, slices=4,
             cell_bits=2, sign=xbp.PAIR_ANALOG, accumulate=0, float_mode=0, offset_scale=0.0, row_begin=0,
             row_end=1),
        dict(head, opcode=xbp.DEQUANT, dst=5, src=[3, 4, -1], conv=0, batch=1, channels=1, pixels=1,
             out_scale=[0.001]),
        digital("relu", 6, [5], []),
    ]
    p.inputs, p.outputs = [0], [6]
    return p


def digital(op, dst, inputs, attrs):
    return {"opcode": xbp.DIGITAL, "dst": dst, "src": (inputs + [-1, -1, -1])[:3], "layer": None, "op": op,
            "node": None, "node_index": 0, "node_op": None, "inputs": inputs, "attrs": attrs}


def pool(dims_in, dims_out, op="maxpool", attrs=None):
    """x (dims_in) -> OP -> y (dims_out): a digital-only program."""
    p = xbp.Program()
    p.arch = dict(ARCH)
    p.buffers = [buf("x", xbp.INPUT, dims_in), buf("y", xbp.OUTPUT, dims_out)]
    p.instrs = [digital(op, 1, [0], attrs or [("kernel", xbp.A_INTS, [1, 1])])]
    p.inputs, p.outputs = [0], [1]
    return p


def out(name, p):
    return xbp.write(p, os.path.join(HERE, name))


def npy(name, shape, values):
    """A float32 .npy file (format 1.0), without numpy."""
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % "".join(f"{d}, " for d in shape)
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    data = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode()
    data += struct.pack(f"<{len(values)}f", *values)
    open(os.path.join(HERE, name), "wb").write(data)


def main():
    npy("x-1x4.npy", [1, 4], [0.1, 0.5, 0.9, 0.3])
    npy("x-1x1x1x1x1.npy", [1, 1, 1, 1, 1], [7.0])
    out("valid-layer.xbp", layer())

    # A constants section of 4 bytes: half of its u64 count (read_consts
    # once decoded the floats of a count it had failed to read).
    data = bytearray(out("hostile-consts-count.xbp", layer()))
    at = data.index(b"CNST")
    data[at + 4:at + 12 + 8] = struct.pack("<Q", 4) + b"\xff\xff\xff\xff"
    open(os.path.join(HERE, "hostile-consts-count.xbp"), "wb").write(data)

    # Dimensions whose product overflows int64 (2^32 x 2^32).
    p = layer()
    p.buffers[1]["dims"] = [1 << 32, 1 << 32]
    out("hostile-dims-overflow.xbp", p)

    # A combine of 2^30 columns (once one row span each: gigabytes).
    p = layer()
    p.instrs[2].update(n_cols=1 << 30, n_per_group=1 << 30)
    out("hostile-combine-columns.xbp", p)

    # group = INT32_MAX: group + 1 overflowed.
    p = layer()
    p.instrs[2].update(group=0x7FFFFFFF)
    out("hostile-combine-group.xbp", p)

    # dac_bits 24: the checker took it, the simulator asserted <= 16.
    p = layer()
    p.instrs[1].update(dac_bits=24)
    out("hostile-mvm-dac.xbp", p)

    # A pair-analog (signed) ADC of 1 bit has no level but 0.
    p = layer()
    p.instrs[1].update(adc_bits=1)
    out("hostile-mvm-adc.xbp", p)

    # A maxpool with a stride of 3.6e18 and ceil_mode: two windows, the
    # second one 3.6e18 elements past the input.
    p = pool([1, 1, 2, 2], [1, 1, 2, 2], attrs=[("ceil_mode", xbp.A_INT, 1), ("kernel", xbp.A_INTS, [1, 1]),
                                                ("strides", xbp.A_INTS, [1, 3600000000000000000])])
    out("hostile-maxpool-stride.xbp", p)

    # What the simulator takes is checked before it takes it (XBARC_MEMORY_LIMIT
    # in the test): relu over a [65536, 65536] input, 16 GiB and as much again.
    out("hostile-memory.xbp", pool([65536, 65536], [65536, 65536], op="relu", attrs=[]))

    # A combine over 2^30 columns that fit its accumulator but not its
    # source: one message and one span (once 2^30 of them, 32 GiB).
    p = layer()
    p.buffers[3]["dims"] = [1, 1 << 30]
    p.instrs[2].update(n_cols=1 << 30, n_per_group=1 << 30)
    p.instrs[3:] = [digital("relu", 6, [0], [])]
    p.buffers[6]["dims"] = [1, 4]
    out("hostile-combine-wide.xbp", p)

    # An mvm's result read by a digital op: sums that may pass 2^24 (16-bit
    # codes, 8-bit cells) get float64 memory, which only a combine reads
    # (the relu read it as float32 through NULL).
    p = layer()
    p.arch["cell_bits"] = 8
    p.tiles[0]["cells"] = bytes([255, 0] * 16)
    p.instrs[0].update(bits=16, scale=1 / 65535)
    p.instrs[1].update(in_bits=16, adc_bits=24, adc_max=float((1 << 23) - 1))
    p.instrs[2].update(cell_bits=8)
    p.buffers.append(buf("leak", xbp.OUTPUT, [1, 4]))
    p.instrs.append(digital("relu", 7, [2], []))
    p.outputs.append(7)
    out("hostile-mvm-reader.xbp", p)

    # A digital op writing its own input: a pad shifting a row by one in
    # place (its row copy was a memcpy between overlapping bytes).
    p = pool([1, 4], [1, 4], op="identity", attrs=[])
    p.buffers.insert(1, buf("t", xbp.TEMP, [1, 4]))
    p.instrs = [digital("identity", 1, [0], []), digital("pad", 1, [1], [("pads", xbp.A_INTS, [0, 1, 0, -1])]),
                digital("identity", 2, [1], [])]
    p.outputs = [2]
    out("hostile-in-place.xbp", p)

    # xbar is a crossbar layer, never a digital op.
    p = layer()
    p.instrs[4] = digital("xbar", 6, [5, 4], [])
    out("hostile-digital-xbar.xbp", p)

    # A digital op on an empty buffer (no IR tensor is empty).
    p = pool([0, 4], [0, 4], op="relu", attrs=[])
    out("hostile-empty-input.xbp", p)

    # An input without a name cannot be bound (--input NAME=FILE).
    p = layer()
    p.buffers[0]["name"] = None
    out("hostile-unnamed-input.xbp", p)

    # Pads near INT64_MAX overflowed the result dimension.
    p = pool([1, 1, 2, 2], [1, 1, 2, 2], op="pad", attrs=[("pads", xbp.A_INTS, [0, 0, 0, 1 << 62, 0, 0, 0, 1 << 62])])
    out("hostile-pad.xbp", p)

    # A conv whose group times the weight's channels overflows (2 x (2^62 + 1)).
    p = pool([1, 2, 2, 2], [1, 2, 2, 2], op="conv", attrs=[("group", xbp.A_INT, (1 << 62) + 1)])
    p.consts = [1.0] * 4
    p.buffers.insert(1, buf("w", xbp.CONST, [2, 2, 1, 1]))
    p.instrs[0].update(dst=2, src=[0, 1, -1], inputs=[0, 1])
    p.outputs = [2]
    out("hostile-conv-group.xbp", p)

    # An average over windows of up to 2^96 padded elements (count_include_pad):
    # the count overflowed int64; now a float.
    big = 1 << 32
    p = pool([1, 1, 1, 1, 1], [1, 1, 2, 2, 2], op="avgpool",
             attrs=[("count_include_pad", xbp.A_INT, 1), ("kernel", xbp.A_INTS, [big] * 3),
                    ("pads", xbp.A_INTS, [big] * 6), ("strides", xbp.A_INTS, [big] * 3)])
    out("hostile-avgpool-count.xbp", p)

    # 50000 instructions (1 MB of zeros, gzipped) take 11 MB in memory: held
    # against the memory limit before they are read.
    data = xbp.write(layer(), os.path.join(HERE, "hostile-many-instructions.xbp"))
    os.remove(os.path.join(HERE, "hostile-many-instructions.xbp"))
    payload = struct.pack("<I", 50000) + bytes(50000 * 21)
    data = data[:data.index(b"INST")] + b"INST" + struct.pack("<Q", len(payload)) + payload + data[data.index(b"IOLS"):]
    with open(os.path.join(HERE, "hostile-many-instructions.xbp.gz"), "wb") as f:
        f.write(gzip.compress(data, mtime=0))

    # A float-weight program's dequant may have no scales (1 each).
    p = layer()
    p.flags = 1
    p.instrs[0].update(float_mode=1)
    p.instrs[1].update(float_mode=1)
    p.instrs[2].update(float_mode=1, slices=1)
    p.instrs[1].update(out_cols=4, phys_cols=8)
    p.instrs[2].update(n_cols=4, n_per_group=4)
    p.buffers[3]["dims"] = [1, 4]
    p.buffers[5]["dims"] = p.buffers[6]["dims"] = [1, 4]
    p.buffers[4]["dims"] = [4]
    p.consts = [0.5, -0.5, 0.25, 0.0]
    p.instrs[3].update(channels=4, out_scale=[])
    p.tiles[0].update(encoding=1, cells=struct.pack("<32f", *[(i % 5) / 4 - 0.5 for i in range(32)]))
    out("float-no-scales.xbp", p)


if __name__ == "__main__":
    main()
