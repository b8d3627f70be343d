/* dataset.c: the labelled image sets `xbarc eval` measures accuracy on.
 *
 * The built-in sets: Fashion-MNIST comes from Debian's dataset-fashion-mnist
 * as gzipped IDX files (read through zlib); sklearn's digits come as two .npy
 * files that models/train_mlp.py writes, so no Python is needed at run time.
 * A path is dispatched to its format's reader (dataset_formats.h), and the
 * subset (--shuffle, --offset, --limit) taken here, for every format alike. */
#include "frontend/dataset_formats.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#ifndef XBARC_MODELS_DIR
#define XBARC_MODELS_DIR "models"
#endif

/* A gzip file's content, in the arena. */
static unsigned char *read_gz(Arena *arena, const char *path, size_t *size, Diags *diags)
{
    unsigned char *buf = data_read_file(path, size, diags);
    if (!buf)
        return NULL;
    unsigned char *out = arena_alloc(arena, *size ? *size : 1);
    memcpy(out, buf, *size);
    free(buf);
    return out;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* An IDX file of unsigned bytes: magic 0x00000800 + rank, then rank big-endian
 * dims.  Returns the data and fills dims. */
unsigned char *data_read_idx(Arena *arena, const char *path, int want_rank, uint32_t *dims, Diags *diags)
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
    unsigned char *pixels = data_read_idx(arena, images_path, 3, idims, diags);
    unsigned char *labels = pixels ? data_read_idx(arena, labels_path, 1, ldims, diags) : NULL;
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
    out->labels = arena_array(arena, idims[0] > 0 ? idims[0] : 1, sizeof *out->labels);
    for (uint32_t i = 0; i < idims[0]; i++)
        out->labels[i] = labels[i];
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
    out->labels = arena_array(arena, (size_t)count + 1, sizeof *out->labels);
    for (int64_t i = 0; i < count; i++) {
        float label = labels.data[i];
        if (!(label >= 0 && label < 10)) {
            Loc loc = {.file = labels_path};
            diag_error(diags, &loc, "label %g of record %lld is not a class 0-9", label, (long long)i);
            return false;
        }
        out->labels[i] = (int32_t)label;
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

/* ---- what the readers share (dataset_formats.h) ---- */

/* zlib's inflate over a whole buffer; windowBits 15 + 32 takes gzip or zlib
 * data, -15 raw deflate (a zip member).  The output grows as needed, each
 * step memory_check'ed: a few KB can expand to any size. */
static uint8_t *inflate_all(const uint8_t *in, size_t in_size, int window_bits, size_t *size, const Loc *loc,
                            Diags *diags)
{
    z_stream z = {0};
    if (inflateInit2(&z, window_bits) != Z_OK) {
        diag_error(diags, loc, "out of memory");
        return NULL;
    }
    size_t cap = in_size * 4 + 4096, n = 0;
    uint8_t *buf = NULL;
    const uint8_t *next = in;
    size_t left = in_size;
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        if (!buf || n == cap) {
            if (buf)
                cap *= 2;
            uint8_t *bigger = memory_check(cap, 1, "decompressing the data set file", loc, diags) ? realloc(buf, cap)
                                                                                                 : NULL;
            if (!bigger) {
                if (diags->n_errors == 0)
                    diag_error(diags, loc, "out of memory");
                free(buf);
                inflateEnd(&z);
                return NULL;
            }
            buf = bigger;
        }
        z.next_in = (Bytef *)next;
        z.avail_in = left > (1u << 30) ? 1u << 30 : (uInt)left;
        z.next_out = buf + n;
        z.avail_out = cap - n > (1u << 30) ? 1u << 30 : (uInt)(cap - n);
        uInt in_before = z.avail_in, out_before = z.avail_out;
        rc = inflate(&z, Z_NO_FLUSH);
        next += in_before - z.avail_in;
        left -= in_before - z.avail_in;
        n += out_before - z.avail_out;
        /* gzip files may hold several members one after the other */
        if (rc == Z_STREAM_END && window_bits > 0 && left > 0) {
            inflateReset(&z);
            rc = Z_OK;
            continue;
        }
        if (rc != Z_OK && rc != Z_STREAM_END && !(rc == Z_BUF_ERROR && left > 0)) {
            diag_error(diags, loc, "corrupt compressed data (zlib: %s)", z.msg ? z.msg : "truncated");
            free(buf);
            inflateEnd(&z);
            return NULL;
        }
        if (rc == Z_BUF_ERROR && left == 0) {
            diag_error(diags, loc, "corrupt compressed data (truncated)");
            free(buf);
            inflateEnd(&z);
            return NULL;
        }
    }
    inflateEnd(&z);
    *size = n;
    return buf;
}

uint8_t *data_inflate(const uint8_t *in, size_t in_size, bool raw, size_t *size, const Loc *loc, Diags *diags)
{
    return inflate_all(in, in_size, raw ? -15 : 15 + 32, size, loc, diags);
}

uint8_t *data_read_file(const char *path, size_t *size, Diags *diags)
{
    Loc loc = {.file = path};
    FileBytes bytes;
    if (!file_read(path, 0, &loc, diags, &bytes))
        return NULL;
    uint8_t *out = NULL;
    if (bytes.size >= 2 && bytes.data[0] == 0x1f && bytes.data[1] == 0x8b) {
        out = inflate_all(bytes.data, bytes.size, 15 + 32, size, &loc, diags);
    } else if ((out = malloc(bytes.size ? bytes.size : 1))) {
        memcpy(out, bytes.data, bytes.size);
        *size = bytes.size;
    } else {
        diag_error(diags, &loc, "out of memory");
    }
    file_release(&bytes);
    return out;
}

static int skip_dots(const struct dirent *e)
{
    return strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
}

int data_list_dir(DataLoad *d, const char *dir, struct dirent ***names)
{
    int n = scandir(dir, names, skip_dots, alphasort);
    if (n < 0) {
        Loc loc = {.file = dir};
        diag_error(d->diags, &loc, "cannot read the directory: %s", strerror(errno));
    }
    return n;
}

bool data_alloc(DataLoad *d, int64_t count, const char *path)
{
    Loc loc = {.file = path};
    if (count <= 0) {
        diag_error(d->diags, &loc, "the data set is empty");
        return false;
    }
    if (count > INT_MAX) {
        diag_error(d->diags, &loc, "%lld images, more than %d", (long long)count, INT_MAX);
        return false;
    }
    if (!memory_check((uint64_t)count * (uint64_t)d->image_numel, sizeof(float), "the data set's images", &loc,
                      d->diags))
        return false;
    d->out->count = (int)count;
    d->out->images = arena_array(d->arena, (size_t)count * (size_t)d->image_numel, sizeof(float));
    d->out->labels = arena_array(d->arena, (size_t)count + 1, sizeof *d->out->labels);
    return true;
}

bool data_label(DataLoad *d, int64_t index, int64_t record, double value, const char *path)
{
    if (!(value >= 0 && value < d->n_classes && value == (int)value)) {
        Loc loc = {.file = path};
        diag_error(d->diags, &loc, "record %lld: label %g is not a class 0-%d (the model has %d outputs)",
                   (long long)record, value, d->n_classes - 1, d->n_classes);
        return false;
    }
    d->out->labels[index] = (int32_t)value;
    return true;
}

bool data_no_split(DataLoad *d, const char *path)
{
    if (!d->need_split && !d->split_explicit)
        return true;
    Loc loc = {.file = path};
    diag_error(d->diags, &loc, "this data set has no %s split (its format has none: give the split's own file)",
               d->split);
    return false;
}

/* ---- dispatch and subsets ---- */

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* What a directory holds: the format of its files' names. */
static bool load_directory(DataLoad *d, const char *dir)
{
    struct dirent **names;
    int n = data_list_dir(d, dir, &names);
    Loc loc = {.file = dir};
    if (n < 0)
        return false;
    bool cifar = false, idx = false, labels = false, subdirs = false, tensors = false;
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        cifar |= ends_with(name, ".bin");
        idx |= strstr(name, "idx3-ubyte") != NULL;
        labels |= strcmp(name, "labels.txt") == 0;
        tensors |= ends_with(name, ".npy") || ends_with(name, ".pb");
        if (name[0] != '.')
            subdirs |= is_dir(arena_printf(d->arena, "%s/%s", dir, name));
        free(names[i]);
    }
    free(names);
    if (cifar)
        return load_cifar(d, dir);
    if (idx)
        return load_idx_dir(d, dir);
    if (labels || (tensors && d->o->unlabelled))
        return load_tensor_dir(d, dir);
    if (subdirs)
        return load_image_folder(d, dir);
    diag_error(d->diags, &loc, "not a data set directory: no CIFAR .bin files, IDX files, labels.txt or class "
                               "sub-folders (docs/datasets.md)");
    return false;
}

static bool load_path(DataLoad *d, const char *spec)
{
    const char *comma = strchr(spec, ',');
    if (comma) {
        char *x = arena_strdup(d->arena, spec);
        x[comma - spec] = '\0';
        return load_npy_pair(d, x, x + (comma - spec) + 1);
    }
    if (ends_with(spec, ".npz"))
        return load_npz(d, spec);
    if (ends_with(spec, ".bin"))
        return load_cifar(d, spec);
    if (is_dir(spec))
        return load_directory(d, spec);
    struct stat st;
    if (stat(spec, &st) != 0) {
        diag_error(d->diags, NULL, "unknown data set '%s': neither a built-in one (fashion-mnist, digits) nor a file or "
                                   "directory", spec);
        return false;
    }
    Loc loc = {.file = spec};
    diag_error(d->diags, &loc, "unknown data set format (an .npz, X.npy,Y.npy, a CIFAR .bin file or a directory: "
                               "docs/datasets.md)");
    return false;
}

/* splitmix64: the --shuffle permutation's generator. */
static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* --shuffle SEED (a Fisher-Yates permutation of the whole split), then
 * --offset, then --limit: the same options give the same images. */
static bool take_subset(Arena *arena, const DatasetOptions *o, Dataset *data, Diags *diags)
{
    int n = data->count;
    if (o->offset >= n) {
        diag_error(diags, NULL, "--offset %ld leaves no image of the %d in %s", o->offset, n, data->name);
        return false;
    }
    int keep = n - (int)o->offset;
    if (o->limit > 0 && o->limit < keep)
        keep = (int)o->limit;
    if (!o->shuffle && keep == n)
        return true;
    int *order = malloc((size_t)n * sizeof(int));
    if (!order) {
        diag_error(diags, NULL, "out of memory");
        return false;
    }
    for (int i = 0; i < n; i++)
        order[i] = i;
    uint64_t state = o->shuffle_seed;
    for (int i = n - 1; o->shuffle && i > 0; i--) {
        int j = (int)(splitmix64(&state) % (uint64_t)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    size_t numel = (size_t)type_numel(&data->image_type);
    float *images = arena_array(arena, (size_t)keep * numel, sizeof(float));
    int32_t *labels = arena_array(arena, (size_t)keep + 1, sizeof *labels);
    for (int i = 0; i < keep; i++) {
        int from = order[o->offset + i];
        memcpy(images + (size_t)i * numel, data->images + (size_t)from * numel, numel * sizeof(float));
        labels[i] = data->labels[from];
    }
    free(order);
    data->images = images;
    data->labels = labels;
    data->count = keep;
    return true;
}

/* torchvision's Normalize: (x - mean) / std in float32, channel by channel. */
static void normalize(Dataset *data, const DatasetOptions *o, int channels)
{
    int64_t numel = type_numel(&data->image_type), plane = numel / channels;
    for (int64_t i = 0; i < data->count; i++)
        for (int c = 0; c < channels; c++) {
            float mean = o->n_mean ? o->mean[o->n_mean == 1 ? 0 : c] : 0.0f;
            float std = o->n_std ? o->std[o->n_std == 1 ? 0 : c] : 1.0f;
            float *x = data->images + i * numel + c * plane;
            for (int64_t j = 0; j < plane; j++)
                x[j] = (x[j] - mean) / std;
        }
}

bool dataset_open(Arena *arena, const DatasetOptions *options, const char *split, bool need_split,
                  const Type *input, int n_classes, Dataset *out, Diags *diags)
{
    DatasetOptions *o = arena_alloc(arena, sizeof *o);
    *o = *options;
    if (!o->scale_div)
        o->scale_mul = 1, o->scale_div = 255;   /* ToTensor's */
    memset(out, 0, sizeof *out);
    out->name = o->spec;
    if (o->split)
        split = o->split;
    if (strcmp(o->spec, "fashion-mnist") == 0 || strcmp(o->spec, "digits") == 0) {
        if (o->scale_given || o->resize || o->crop || o->n_mean || o->n_std) {
            diag_error(diags, NULL, "--scale, --resize, --center-crop, --mean and --std apply to data set files, "
                                    "not to the built-in %s (scaled as its model was trained)", o->spec);
            return false;
        }
        if (!dataset_load(arena, o->spec, split, o->dir, out, diags))
            return false;
    } else {
        if (!input) {
            diag_error(diags, NULL, "%s: the images of a data set file take the shape of the model's input, and "
                                    "the model has not one input", o->spec);
            return false;
        }
        DataLoad d = {.arena = arena, .o = o, .split = split, .need_split = need_split,
                      .split_explicit = o->split != NULL, .input = input, .image_numel = type_numel(input),
                      .n_classes = n_classes > 0 && n_classes < DATASET_MAX_CLASSES ? n_classes : DATASET_MAX_CLASSES, .out = out, .diags = diags};
        for (int v = 0; v < 256; v++)
            d.scale[v] = (float)v * o->scale_mul / o->scale_div;
        out->image_type = *input;
        out->n_classes = d.n_classes;
        int channels = input->rank == 4 ? (int)input->dims[1] : 1;
        if ((o->n_mean > 1 && o->n_mean != channels) || (o->n_std > 1 && o->n_std != channels)) {
            diag_error(diags, NULL, "--mean and --std take one value or %d (the model's channels, input %s)",
                       channels, type_format(arena, input));
            return false;
        }
        if (!load_path(&d, o->spec))
            return false;
        if ((o->resize || o->crop) && !d.images) {
            diag_error(diags, NULL, "--resize and --center-crop apply to image folders, not to %s", o->spec);
            return false;
        }
        if (o->n_mean || o->n_std)
            normalize(out, o, channels);
    }
    return take_subset(arena, o, out, diags);
}
