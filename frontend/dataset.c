/* dataset.c: the labelled image sets `xbarc eval` measures accuracy on.
 *
 * Fashion-MNIST comes from Debian's dataset-fashion-mnist as gzipped IDX files
 * (read through zlib); sklearn's digits come as two .npy files that
 * models/train_mlp.py writes, so no Python is needed at run time. */
#include "frontend/frontend.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#ifndef XBARC_MODELS_DIR
#define XBARC_MODELS_DIR "models"
#endif

/* Reads a whole gzip file into the arena. */
static unsigned char *read_gz(Arena *arena, const char *path, size_t *size, Diags *diags)
{
    Loc loc = {.file = path};
    gzFile f = gzopen(path, "rb");
    if (!f) {
        diag_error(diags, &loc, "cannot open data set file (is dataset-fashion-mnist installed?)");
        return NULL;
    }
    size_t cap = 1 << 20, n = 0;
    unsigned char *buf = malloc(cap);
    for (;;) {
        if (n == cap) {
            /* A few KB of gzip can expand to any size. */
            if (!memory_check(2 * (uint64_t)cap, 1, "decompressing the data set file", &loc, diags)) {
                free(buf);
                gzclose(f);
                return NULL;
            }
            cap *= 2;
            unsigned char *bigger = realloc(buf, cap);
            if (!bigger)
                break;
            buf = bigger;
        }
        size_t room = cap - n;
        int got = gzread(f, buf + n, room > (1u << 30) ? 1u << 30 : (unsigned)room);    /* gzread takes an int's worth */
        if (got <= 0) {
            int err = 0;
            if (got < 0 || (gzerror(f, &err), err != Z_OK && err != Z_STREAM_END)) {
                diag_error(diags, &loc, "corrupt gzip data");
                free(buf);
                gzclose(f);
                return NULL;
            }
            break;
        }
        n += (size_t)got;
    }
    gzclose(f);
    unsigned char *out = arena_alloc(arena, n ? n : 1);
    memcpy(out, buf, n);
    free(buf);
    *size = n;
    return out;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* An IDX file of unsigned bytes: magic 0x00000800 + rank, then rank big-endian
 * dims.  Returns the data and fills dims. */
static unsigned char *read_idx(Arena *arena, const char *path, int want_rank, uint32_t *dims, Diags *diags)
{
    Loc loc = {.file = path};
    size_t size = 0;
    unsigned char *raw = read_gz(arena, path, &size, diags);
    if (!raw)
        return NULL;
    size_t header = 4 + 4 * (size_t)want_rank;
    if (size < header || be32(raw) != (0x800u | (uint32_t)want_rank)) {
        diag_error(diags, &loc, "not an IDX file of %d-D unsigned bytes", want_rank);
        return NULL;
    }
    int64_t numel = 1;
    for (int i = 0; i < want_rank; i++) {
        dims[i] = be32(raw + 4 + 4 * i);
        if (dims[i] == 0) {
            diag_error(diags, &loc, "IDX file has %s", i ? "an empty dimension" : "no records");
            return NULL;
        }
        if (!i64_mul(numel, dims[i], &numel) || numel > (int64_t)(size - header)) {
            diag_error(diags, &loc, "IDX file holds %zu bytes of data, less than its header says", size - header);
            return NULL;
        }
    }
    if (size - header != (size_t)numel) {
        diag_error(diags, &loc, "IDX file holds %zu bytes of data, its header says %lld", size - header,
                   (long long)numel);
        return NULL;
    }
    return raw + header;
}

static bool load_fashion_mnist(Arena *arena, const char *split, const char *dir, Dataset *out, Diags *diags)
{
    const char *prefix = strcmp(split, "train") == 0 ? "train" : "t10k";
    char *images_path = arena_printf(arena, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    char *labels_path = arena_printf(arena, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    uint32_t idims[3], ldims[1];
    unsigned char *pixels = read_idx(arena, images_path, 3, idims, diags);
    unsigned char *labels = pixels ? read_idx(arena, labels_path, 1, ldims, diags) : NULL;
    if (!labels)
        return false;
    Loc images_loc = {.file = images_path}, labels_loc = {.file = labels_path};
    if (ldims[0] != idims[0]) {
        diag_error(diags, &labels_loc, "%u labels for %u images", ldims[0], idims[0]);
        return false;
    }
    if (idims[0] > INT_MAX) {
        diag_error(diags, &images_loc, "%u images, more than %d", idims[0], INT_MAX);
        return false;
    }
    out->n_classes = 10;
    for (uint32_t i = 0; i < ldims[0]; i++) {
        if (labels[i] >= out->n_classes) {
            diag_error(diags, &labels_loc, "label %u of record %u is not a class 0-%d", labels[i], i,
                       out->n_classes - 1);
            return false;
        }
    }
    int64_t dims[4] = {1, 1, idims[1], idims[2]};
    out->image_type = type_make(4, dims);
    out->count = (int)idims[0];
    size_t n = (size_t)idims[0] * idims[1] * idims[2];    /* the bytes read_idx found */
    if (!memory_check(n, sizeof(float), "the data set's images", &images_loc, diags))
        return false;
    out->images = arena_array(arena, n, sizeof(float));
    for (size_t i = 0; i < n; i++)
        out->images[i] = pixels[i] / 255.0f;
    out->labels = labels;
    return true;
}

static bool load_digits(Arena *arena, const char *split, const char *dir, Dataset *out, Diags *diags)
{
    Tensor images, labels;
    char *images_path = arena_printf(arena, "%s/%s-images.npy", dir, split);
    char *labels_path = arena_printf(arena, "%s/%s-labels.npy", dir, split);
    if (!tensor_read(arena, images_path, &images, diags) || !tensor_read(arena, labels_path, &labels, diags))
        return false;
    int64_t count = images.type.rank ? images.type.dims[0] : 0;
    if (count == 0 || count > INT_MAX) {
        Loc loc = {.file = images_path};
        diag_error(diags, &loc, "the images must be an array [COUNT, ...] of 1 to %d images, not %s", INT_MAX,
                   type_format(arena, &images.type));
        return false;
    }
    if (type_numel(&labels.type) != count) {
        Loc loc = {.file = labels_path};
        diag_error(diags, &loc, "%lld labels for %lld images", (long long)type_numel(&labels.type), (long long)count);
        return false;
    }
    int64_t dims[2] = {1, count ? type_numel(&images.type) / count : 0};
    out->image_type = type_make(2, dims);
    out->count = (int)count;
    out->n_classes = 10;
    out->images = images.data;
    for (int64_t i = 0; i < type_numel(&images.type); i++)
        out->images[i] /= 16.0f;
    out->labels = arena_alloc(arena, (size_t)count + 1);
    for (int64_t i = 0; i < count; i++) {
        float label = labels.data[i];
        if (!(label >= 0 && label < 10)) {
            Loc loc = {.file = labels_path};
            diag_error(diags, &loc, "label %g of record %lld is not a class 0-9", label, (long long)i);
            return false;
        }
        out->labels[i] = (uint8_t)label;
    }
    return true;
}

bool dataset_load(Arena *arena, const char *name, const char *split, const char *dir,
                  Dataset *out, Diags *diags)
{
    memset(out, 0, sizeof *out);
    out->name = name;
    if (strcmp(split, "test") != 0 && strcmp(split, "train") != 0) {
        diag_error(diags, NULL, "unknown data set split '%s' (test or train)", split);
        return false;
    }
    if (strcmp(name, "fashion-mnist") == 0)
        return load_fashion_mnist(arena, split, dir ? dir : "/usr/share/datasets/fashion-mnist", out, diags);
    if (strcmp(name, "digits") == 0)
        return load_digits(arena, split, dir ? dir : XBARC_MODELS_DIR "/digits", out, diags);
    diag_error(diags, NULL, "unknown data set '%s' (fashion-mnist or digits)", name);
    return false;
}
