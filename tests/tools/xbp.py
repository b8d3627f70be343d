"""xbp.py: read and write xbarc program files (docs/program-format.md) from Python.

Tooling for tests: tests/lit/backend/Inputs/make_hostile.py builds hostile
programs from scratch or by editing a compiled one, field by field, so that
each committed .xbp differs from a valid program in exactly the way its test
says.  The reader here trusts its input (it reads what xbarc wrote); the
writer writes whatever it is given, valid or not.
"""
import struct

MAGIC = b"XBARCPRG"
VERSION = 5
TAGS = [b"ARCH", b"FLAG", b"STRS", b"CNST", b"BUFS", b"TILE", b"INST", b"IOLS"]
QUANT, IM2COL, MVM, COMBINE, DEQUANT, DIGITAL = range(6)
INPUT, OUTPUT, CONST, TEMP = range(4)
PAIR_ANALOG, PAIR_DIGITAL, OFFSET = range(3)
A_INT, A_FLOAT, A_INTS, A_FLOATS, A_STRING = range(5)
NONE = 0xFFFFFFFF

ARCH_FIELDS = [("rows", "i"), ("cols", "i"), ("cell_bits", "i"), ("g_min_us", "d"), ("g_max_us", "d"),
               ("weight_bits", "i"), ("weight_per_layer", "B"), ("input_bits", "i"), ("dac_bits", "i"),
               ("adc_bits", "i"), ("cols_per_adc", "i"), ("sign", "B"), ("tiles", "i")]
# Parameters of each opcode after the common head, as (name, struct code).
PARAMS = {
    QUANT: [("scale", "f"), ("bits", "i"), ("is_signed", "B"), ("float_mode", "B")],
    IM2COL: [("spatial", "B"), ("batch", "q"), ("channels", "q"), ("group", "q")]
    + [(f"{f}{i}", "q") for i in range(3) for f in ("in", "kernel", "out", "stride", "dilation")]
    + [(f"pad{i}", "q") for i in range(6)],
    MVM: [("tile", "i"), ("tile_row", "i"), ("tile_col", "i"), ("rows", "i"), ("src_col", "i"),
          ("phys_cols", "i"), ("out_cols", "i"), ("dac_bits", "i"), ("in_bits", "i"), ("in_signed", "B"),
          ("sign", "B"), ("adc_bits", "i"), ("adc_max", "f"), ("float_mode", "B"), ("row_begin", "q"),
          ("row_end", "q")],
    COMBINE: [("group", "i"), ("n0", "i"), ("n_cols", "i"), ("n_per_group", "i"), ("slices", "i"),
              ("cell_bits", "i"), ("sign", "B"), ("accumulate", "B"), ("float_mode", "B"),
              ("offset_scale", "f"), ("row_begin", "q"), ("row_end", "q")],
    DEQUANT: [("conv", "B"), ("batch", "q"), ("channels", "q"), ("pixels", "q")],
}


class Cursor:
    def __init__(self, data):
        self.data, self.at = data, 0

    def get(self, code):
        v = struct.unpack_from("<" + code, self.data, self.at)[0]
        self.at += struct.calcsize(code)
        return v

    def bytes(self, n):
        v = self.data[self.at:self.at + n]
        self.at += n
        return v


class Program:
    """Every field of a program, with strings resolved (None for none)."""

    def __init__(self):
        self.arch = {}
        self.flags = 0
        self.tuned_seed = 0         # FLAG (version 3): the chip a fine-tuned program was tuned for
        self.tuned_chip = b""
        self.consts = []            # floats
        self.buffers = []           # dicts: name kind wide dtype dims offset
        self.tiles = []             # dicts: rows cols encoding writes cells (bytes, as stored), cell_writes (optional)
        self.instrs = []            # dicts: opcode dst src layer + params (+ digital fields)
        self.inputs, self.outputs = [], []


def read(path):
    c = Cursor(open(path, "rb").read())
    assert c.bytes(8) == MAGIC and c.get("I") == VERSION
    p = Program()
    strings = []
    for tag in TAGS:
        assert c.bytes(4) == tag
        end = c.get("Q") + c.at
        if tag == b"ARCH":
            p.arch = {name: c.get(code) for name, code in ARCH_FIELDS}
        elif tag == b"FLAG":
            p.flags = c.get("I")
            p.tuned_seed = c.get("Q")
            p.tuned_chip = c.bytes(c.get("I"))
        elif tag == b"STRS":
            strings = [c.bytes(c.get("I")).decode() for _ in range(c.get("I"))]
        elif tag == b"CNST":
            p.consts = [c.get("f") for _ in range(c.get("Q"))]
        elif tag == b"BUFS":
            for _ in range(c.get("I")):
                s = c.get("I")
                b = {"name": None if s == NONE else strings[s], "kind": c.get("B"), "wide": c.get("B"),
                     "dtype": c.get("B")}
                b["dims"] = [c.get("q") for _ in range(c.get("B"))]
                b["offset"] = c.get("Q")
                p.buffers.append(b)
        elif tag == b"TILE":
            for _ in range(c.get("I")):
                t = {"rows": c.get("i"), "cols": c.get("i"), "encoding": c.get("B"), "writes": c.get("I")}
                counted = c.get("B")
                n = t["rows"] * t["cols"]
                size = 4 * n if t["encoding"] else (n * p.arch["cell_bits"] + 7) // 8
                t["cells"] = c.bytes(size)
                if counted:     # version 5: write counts per cell (xbarc train)
                    t["cell_writes"] = [c.get("I") for _ in range(n)]
                p.tiles.append(t)
        elif tag == b"INST":
            for _ in range(c.get("I")):
                op = c.get("B")
                i = {"opcode": op, "dst": c.get("i"), "src": [c.get("i") for _ in range(3)]}
                s = c.get("I")
                i["layer"] = None if s == NONE else strings[s]
                if op == DIGITAL:
                    read_digital(c, i, strings)
                else:
                    for name, code in PARAMS[op]:
                        i[name] = c.get(code)
                    if op == DEQUANT:
                        i["out_scale"] = [c.get("f") for _ in range(c.get("I"))]
                p.instrs.append(i)
        elif tag == b"IOLS":
            p.inputs = [c.get("i") for _ in range(c.get("I"))]
            p.outputs = [c.get("i") for _ in range(c.get("I"))]
        assert c.at == end, tag
    return p


def read_digital(c, i, strings):
    def opt():
        s = c.get("I")
        return None if s == NONE else strings[s]
    i["op"] = strings[c.get("I")]
    i["node"], i["node_index"], i["node_op"] = opt(), c.get("i"), opt()
    i["inputs"] = [c.get("i") for _ in range(c.get("I"))]
    attrs = []
    for _ in range(c.get("I")):
        name, kind = strings[c.get("I")], c.get("B")
        if kind == A_INT:
            v = c.get("q")
        elif kind == A_FLOAT:
            v = c.get("f")
        elif kind == A_INTS:
            v = [c.get("q") for _ in range(c.get("I"))]
        elif kind == A_FLOATS:
            v = [c.get("f") for _ in range(c.get("I"))]
        else:
            v = strings[c.get("I")]
        attrs.append((name, kind, v))
    i["attrs"] = attrs


class Strings:
    def __init__(self):
        self.index, self.items = {}, []

    def ref(self, s):
        if s is None:
            return NONE
        if s not in self.index:
            self.index[s] = len(self.items)
            self.items.append(s)
        return self.index[s]


def write(p, path):
    """Writes p (a Program, or one built by hand with the same fields)."""
    st = Strings()
    sec = {}
    sec[b"ARCH"] = b"".join(struct.pack("<" + code, p.arch[name]) for name, code in ARCH_FIELDS)
    chip = getattr(p, "tuned_chip", b"")
    sec[b"FLAG"] = struct.pack("<IQI", p.flags, getattr(p, "tuned_seed", 0), len(chip)) + chip
    sec[b"CNST"] = struct.pack("<Q", len(p.consts)) + b"".join(struct.pack("<f", v) for v in p.consts)
    out = [struct.pack("<I", len(p.buffers))]
    for b in p.buffers:
        out.append(struct.pack("<IBBBB", st.ref(b["name"]), b["kind"], b["wide"], b.get("dtype", 0), len(b["dims"])))
        out += [struct.pack("<q", d) for d in b["dims"]]
        out.append(struct.pack("<Q", b["offset"]))
    sec[b"BUFS"] = b"".join(out)
    out = [struct.pack("<I", len(p.tiles))]
    for t in p.tiles:
        counts = t.get("cell_writes")
        out.append(struct.pack("<iiBIB", t["rows"], t["cols"], t["encoding"], t["writes"], counts is not None)
                   + t["cells"] + b"".join(struct.pack("<I", w) for w in counts or []))
    sec[b"TILE"] = b"".join(out)
    out = [struct.pack("<I", len(p.instrs))]
    for i in p.instrs:
        out.append(struct.pack("<Biiii", i["opcode"], i["dst"], *i["src"]) + struct.pack("<I", st.ref(i["layer"])))
        if i["opcode"] == DIGITAL:
            out.append(struct.pack("<IIiI", st.ref(i["op"]), st.ref(i["node"]), i["node_index"], st.ref(i["node_op"])))
            out.append(struct.pack("<I", len(i["inputs"])) + b"".join(struct.pack("<i", v) for v in i["inputs"]))
            out.append(struct.pack("<I", len(i["attrs"])))
            for name, kind, v in i["attrs"]:
                out.append(struct.pack("<IB", st.ref(name), kind))
                if kind == A_INT:
                    out.append(struct.pack("<q", v))
                elif kind == A_FLOAT:
                    out.append(struct.pack("<f", v))
                elif kind == A_INTS:
                    out.append(struct.pack("<I", len(v)) + b"".join(struct.pack("<q", x) for x in v))
                elif kind == A_FLOATS:
                    out.append(struct.pack("<I", len(v)) + b"".join(struct.pack("<f", x) for x in v))
                else:
                    out.append(struct.pack("<I", st.ref(v)))
        else:
            out += [struct.pack("<" + code, i[name]) for name, code in PARAMS[i["opcode"]]]
            if i["opcode"] == DEQUANT:
                out.append(struct.pack("<I", len(i["out_scale"])) + b"".join(struct.pack("<f", v) for v in i["out_scale"]))
    sec[b"INST"] = b"".join(out)
    sec[b"IOLS"] = (struct.pack("<I", len(p.inputs)) + b"".join(struct.pack("<i", v) for v in p.inputs)
                    + struct.pack("<I", len(p.outputs)) + b"".join(struct.pack("<i", v) for v in p.outputs))
    enc = [s.encode() for s in st.items]
    sec[b"STRS"] = struct.pack("<I", len(enc)) + b"".join(struct.pack("<I", len(s)) + s for s in enc)
    data = MAGIC + struct.pack("<I", VERSION)
    for tag in TAGS:
        data += tag + struct.pack("<Q", len(sec[tag])) + sec[tag]
    with open(path, "wb") as f:
        f.write(data)
    return data
