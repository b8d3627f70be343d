"""png_box.py FILE: checks a PNG by its own bytes (signature, IHDR, the CRC of
every chunk, zlib data unfiltered per row, PNG spec 1.2 section 9), then
prints "png WIDTHxHEIGHT ink X0,Y0-X1,Y1": the box of the pixels that are
not white (all of it inside the image means nothing ran off an edge).
8-bit RGB or RGBA only, what cairo writes."""
import struct, sys, zlib

data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "no PNG signature"
pos, idat, ihdr = 8, b"", None
while pos < len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    assert struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0] == zlib.crc32(kind + body), kind
    if kind == b"IHDR":
        ihdr = struct.unpack(">IIBBBBB", body)
    elif kind == b"IDAT":
        idat += body
    pos += 12 + length
    if kind == b"IEND":
        break
width, height, depth, colour = ihdr[:4]
assert depth == 8 and colour in (2, 6), ihdr
bpp = 4 if colour == 6 else 3
raw, stride = zlib.decompress(idat), width * bpp
rows, prev, i = [], bytearray(stride), 0
for y in range(height):
    f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
    i += 1 + stride
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0
        b, c = prev[x], prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    rows.append(line)
    prev = line
ink = [(x, y) for y in range(height) for x in range(width)
       if any(v < 250 for v in rows[y][x * bpp:x * bpp + 3])]
xs, ys = [p[0] for p in ink], [p[1] for p in ink]
print("png %dx%d ink %d,%d-%d,%d" % (width, height, min(xs), min(ys), max(xs), max(ys)))
