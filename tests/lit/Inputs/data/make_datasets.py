#!/usr/bin/python3
"""Builds the data sets of tests/lit/datasets: the same images in every format
xbarc reads (docs/datasets.md), and torchvision's own reading of the image
folders as the reference.  Run with Debian's python3 (python3-numpy,
python3-pil, python3-torchvision); the output is committed, so the tests need
no Python packages:

    /usr/bin/python3 tests/lit/Inputs/data/make_datasets.py

Sources: the first 150 images of Fashion-MNIST's test split (Debian's
dataset-fashion-mnist) and the 540 test images of sklearn's digits that
models/train_mlp.py wrote to models/digits."""
import gzip
import os
import shutil
import struct

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision import transforms

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "../../../.."))
FMNIST = "/usr/share/datasets/fashion-mnist"
N_FMNIST = 150


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    rank = data[3]
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * rank).reshape(dims)


def write_idx(path, array, compress):
    header = struct.pack(">I", 0x800 | array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if compress:
        with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
            f.write(data)
    else:
        with open(path, "wb") as f:
            f.write(data)


def fresh(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(path)
    return path


def image_folder(root, images, labels, ext, convert=None, **save):
    fresh(root)
    for i, (x, y) in enumerate(zip(images, labels)):
        d = os.path.join(root, "c%d" % y)
        os.makedirs(d, exist_ok=True)
        im = Image.fromarray(x)
        if convert:
            im = convert(im, i)
        im.save(os.path.join(d, "%04d.%s" % (i, ext)), **save)


def reference(root, transform, out_dir, name):
    """torchvision's ImageFolder through `transform`: the tensors as a batched
    .npy (uint8 when ToTensor's x/255 is undone exactly) and labels.txt."""
    data = torchvision.datasets.ImageFolder(root, transform=transform)
    xs = np.stack([x.numpy() for x, _ in data])
    fresh(out_dir)
    np.save(os.path.join(out_dir, name), xs)
    with open(os.path.join(out_dir, "labels.txt"), "w") as f:
        f.writelines("%d\n" % y for _, y in data)
    return xs


def main():
    os.chdir(HERE)
    # ---- Fashion-MNIST (LeNet-5: 1x28x28, /255) ----
    x = read_idx(os.path.join(FMNIST, "t10k-images-idx3-ubyte.gz"))[:N_FMNIST]
    y = read_idx(os.path.join(FMNIST, "t10k-labels-idx1-ubyte.gz"))[:N_FMNIST]
    fresh("fmnist-idx")
    write_idx("fmnist-idx/t10k-images-idx3-ubyte.gz", x, True)
    write_idx("fmnist-idx/t10k-labels-idx1-ubyte.gz", y, True)
    write_idx("fmnist-idx/train-images-idx3-ubyte", x[:20], False)    # not gzipped
    write_idx("fmnist-idx/train-labels-idx1-ubyte", y[:20], False)
    np.savez_compressed("fmnist.npz", x=x, y=y.astype(np.int64))
    with open("fmnist.bin", "wb") as f:                  # CIFAR-10 records: label byte, image bytes
        for img, label in zip(x, y):
            f.write(bytes([label]) + img.tobytes())
    image_folder("fmnist-png", x, y, "png")
    # 20 inputs one file each and the same 20 batched, with labels.txt
    d = fresh("fmnist-tensors")
    for i in range(20):
        np.save(os.path.join(d, "%03d.npy" % i), x[i].reshape(1, 1, 28, 28).astype(np.float32) / 255)
    with open(os.path.join(d, "labels.txt"), "w") as f:
        f.writelines("%d\n" % v for v in y[:20])
    d = fresh("fmnist-batched")
    np.save(os.path.join(d, "a.npy"), x[:12].reshape(12, 1, 28, 28))      # uint8: scaled /255
    np.save(os.path.join(d, "b.npy"), x[12:20].reshape(8, 1, 28, 28).astype(np.float32) / 255)
    with open(os.path.join(d, "labels.txt"), "w") as f:
        f.writelines("%d\n" % v for v in y[:20])

    # JPEGs in colour, 36 wide and 40 high, needing Resize(28) and CenterCrop(28)
    n_jpeg = 40

    def colour_resize(im, i):
        rgb = np.stack([np.asarray(im), np.asarray(im) * 0.8, 255 - np.asarray(im) * 0.5], -1).astype(np.uint8)
        return Image.fromarray(rgb).resize((36, 40), Image.BICUBIC)
    image_folder("fmnist-jpeg", x[:n_jpeg], y[:n_jpeg], "jpg", colour_resize, quality=90)
    gray = transforms.Compose([transforms.Grayscale(), transforms.Resize(28), transforms.CenterCrop(28),
                               transforms.ToTensor()])
    xs = reference("fmnist-jpeg", gray, "fmnist-jpeg-ref", "ref.npy")
    np.save("fmnist-jpeg-ref/ref.npy", np.round(xs * 255).astype(np.uint8))   # ToTensor's k/255, undone exactly

    # ---- RGB: resize up and down, crop, normalize (a 3x16x16 input) ----
    def rgb(im, i):
        a = np.asarray(im)
        c = np.stack([a, np.roll(a, 3, 0), 255 - a], -1).astype(np.uint8)
        return Image.fromarray(c).resize((20, 24) if i % 2 else (12, 10), Image.BICUBIC)
    image_folder("rgb-png", x[:10], y[:10], "png", rgb)
    norm = transforms.Compose([transforms.Resize(16), transforms.CenterCrop(16), transforms.ToTensor(),
                               transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    ref = reference("rgb-png", norm, "rgb-png-ref", "ref.npy")
    labels = np.loadtxt("rgb-png-ref/labels.txt", dtype=np.int64)
    np.savez_compressed("rgb-hwc.npz", x=ref.transpose(0, 2, 3, 1), y=labels)     # [N, H, W, C], as Keras keeps them

    # ---- sklearn's digits (MLP: 64 inputs, /16) ----
    dx = np.load(os.path.join(ROOT, "models/digits/test-images.npy"))
    dy = np.load(os.path.join(ROOT, "models/digits/test-labels.npy"))
    fresh("digits-idx")
    write_idx("digits-idx/t10k-images-idx3-ubyte.gz", dx, True)
    write_idx("digits-idx/t10k-labels-idx1-ubyte.gz", dy, True)
    np.savez("digits.npz", x=dx.astype(np.uint8), y=dy.astype(np.int32))          # stored, not deflated
    np.save("digits-x.npy", (dx[:100] / 16).astype(np.float32).reshape(-1, 64))    # float: taken as it is
    np.save("digits-y.npy", dy[:100].astype(np.int64))
    with open("digits.bin", "wb") as f:
        for img, label in zip(dx, dy):
            f.write(bytes([label]) + img.astype(np.uint8).tobytes())
    image_folder("digits-png", dx.astype(np.uint8), dy, "png")

    # ---- broken files ----
    d = fresh("bad")
    with open("fmnist-png/c0/" + sorted(os.listdir("fmnist-png/c0"))[0], "rb") as f:
        png = f.read()
    fresh("bad/png-cut/c0")
    with open("bad/png-cut/c0/cut.png", "wb") as f:
        f.write(png[:len(png) // 2])
    with open("fmnist-jpeg/c0/" + sorted(os.listdir("fmnist-jpeg/c0"))[0], "rb") as f:
        jpg = f.read()
    fresh("bad/jpeg-garbled/c0")
    with open("bad/jpeg-garbled/c0/garbled.jpg", "wb") as f:
        f.write(jpg[:200] + bytes(range(256)) * 4)
    np.savez("bad/label12.npz", x=x[:5], y=np.array([1, 2, 12, 3, 4]))
    np.savez("bad/size27.npz", x=x[:5, :27, :27], y=y[:5])
    np.savez("bad/short-y.npz", x=x[:5], y=y[:4])
    np.savez("bad/no-y.npz", x=x[:5])
    np.savez_compressed("bad/crc.npz", x=x[:5], y=y[:5])
    with open("bad/crc.npz", "rb") as f:
        z = bytearray(f.read())
    z[200] ^= 0xff
    with open("bad/crc.npz", "wb") as f:
        f.write(bytes(z))
    with open("bad/cifar-cut.bin", "wb") as f:
        f.write(open("fmnist.bin", "rb").read()[:785 * 3 + 100])
    fresh("bad/empty-class/c0")
    fresh("bad/empty-class/c1")
    with open("bad/empty-class/c0/a.png", "wb") as f:
        f.write(png)
    fresh("bad/labels-text")
    np.save("bad/labels-text/a.npy", x[:2].reshape(2, 1, 28, 28))
    with open("bad/labels-text/labels.txt", "w") as f:
        f.write("3\nseven\n")


if __name__ == "__main__":
    main()
