# Writes where_leaky.xir's input and expected outputs as .npy (no numpy needed):
# y = where(x > 0, x, 0.1 x); m = xor(x <= 0.5, not(x == -1)) or (x >= 2 and x < 3).
import struct
def npy(path, shape, vals, descr="<f4", fmt="f"):
    hdr = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (descr, "".join("%d," % d for d in shape))
    hdr += " " * (63 - (10 + len(hdr)) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode() + struct.pack("<%d%s" % (len(vals), fmt), *vals))
f32 = lambda v: struct.unpack("<f", struct.pack("<f", v))[0]
x = [-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 2.5, 3.0, -3.0, 4.0, 0.25]
npy("x.npy", [2, 6], x)
npy("y.npy", [2, 6], [v if v > 0 else f32(v * f32(0.1)) for v in x])
npy("m.npy", [2, 6], [((v <= 0.5) != (not v == -1.0)) or (v >= 2 and v < 3) for v in x], "|b1", "?")
