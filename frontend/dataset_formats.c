/* dataset_formats.c: labelled data sets as arrays of numbers: NumPy .npz
 * (np.savez and np.savez_compressed: a zip file, read here over zlib) and
 * .npy pairs, CIFAR-10/100 binary batches, MNIST-family IDX files and
 * folders of .npy/.pb input tensors with a labels.txt.
 *
 * The images take the model's input shape: an array's per-image shape may be
 * any of the same number of elements (an [N, H, W, C] array of a model taking
 * [1, C, H, W] is transposed, with a note).  8-bit data is scaled as --scale
 * says (default 1/255); floating-point data is taken as it is. */
#include "frontend/dataset_formats.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static uint32_t le16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t le32(const uint8_t *p)
{
    return le16(p) | le16(p + 2) << 16;
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* Whether a .npy file's header says unsigned bytes ('|u1'). */
static bool npy_is_u8(const uint8_t *bytes, size_t size)
{
    if (size < 10 || memcmp(bytes, "\x93NUMPY", 6) != 0)
        return false;
    size_t start = bytes[6] == 1 ? 10 : 12;
    size_t len = size < start ? 0 : bytes[6] == 1 ? le16(bytes + 8) : le32(bytes + 8);
    for (size_t i = start; i + 5 <= start + len && i + 5 <= size; i++)
        if (memcmp(bytes + i, "'|u1'", 5) == 0)
            return true;
    return false;
}

/* ---- arrays to images ---- */

/* The images of array x ([N, ...], read from `path`) in the model's layout. */
static bool take_images(DataLoad *d, const Tensor *x, bool u8, const char *path)
{
    Loc loc = {.file = path};
    int64_t n = x->type.rank ? x->type.dims[0] : 0, numel = type_numel(&x->type);
    if (x->type.rank < 2 || numel / n != d->image_numel) {
        diag_error(d->diags, &loc, "the images are an array %s: %lld elements an image, the model's input %s takes "
                   "%lld", type_format(d->arena, &x->type), (long long)(n ? numel / n : 0),
                   type_format(d->arena, d->input), (long long)d->image_numel);
        return false;
    }
    if (!data_alloc(d, n, path))
        return false;
    const int64_t *in = d->input->dims, *xd = x->type.dims;
    /* [N, H, W, C] for [1, C, H, W]: HWC images, as Keras and PIL keep them */
    bool hwc = d->input->rank == 4 && x->type.rank == 4 && xd[1] == in[2] && xd[2] == in[3] && xd[3] == in[1] &&
               !(xd[1] == in[1] && xd[2] == in[2] && xd[3] == in[3]);
    if (hwc)
        diag_note(d->diags, &loc, "images of %s taken as [N, H, W, C] and transposed to the model's [N, C, H, W]",
                  type_format(d->arena, &x->type));
    int64_t c = in[d->input->rank == 4 ? 1 : 0], hw = d->image_numel / (c ? c : 1);
    float *out = d->out->images;
    for (int64_t i = 0; i < n; i++) {
        const float *src = x->data + i * d->image_numel;
        float *dst = out + i * d->image_numel;
        for (int64_t j = 0; j < d->image_numel; j++) {
            /* j indexes the output (CHW); its source is (j % hw) * c + j / hw in HWC */
            float v = src[hwc ? (j % hw) * c + j / hw : j];
            dst[j] = u8 ? d->scale[(uint8_t)v] : v;
        }
    }
    return true;
}

static bool take_labels(DataLoad *d, const Tensor *y, const char *path)
{
    int64_t n = type_numel(&y->type);
    if (n != d->out->count) {
        Loc loc = {.file = path};
        diag_error(d->diags, &loc, "%lld labels for %d images", (long long)n, d->out->count);
        return false;
    }
    for (int64_t i = 0; i < n; i++)
        if (!data_label(d, i, i, y->data[i], path))
            return false;
    return true;
}

/* ---- .npy pairs ---- */

static bool read_array(DataLoad *d, const char *path, const uint8_t *bytes, size_t size, Tensor *t, bool *u8)
{
    *u8 = npy_is_u8(bytes, size);
    return tensor_read_memory(d->arena, path, bytes, size, t, d->diags);
}

bool load_npy_pair(DataLoad *d, const char *x_path, const char *y_path)
{
    if (!data_no_split(d, x_path))
        return false;
    const char *paths[2] = {x_path, y_path};
    Tensor t[2];
    bool u8[2], ok = true;
    for (int i = 0; i < 2 && ok; i++) {
        Loc loc = {.file = paths[i]};
        FileBytes bytes;
        ok = file_read(paths[i], 0, &loc, d->diags, &bytes);
        if (ok) {
            ok = read_array(d, paths[i], bytes.data, bytes.size, &t[i], &u8[i]);
            file_release(&bytes);
        }
    }
    return ok && take_images(d, &t[0], u8[0], x_path) && take_labels(d, &t[1], y_path);
}

/* ---- .npz: a zip file of .npy members ---- */

typedef struct {
    const uint8_t *data;    /* the member's stored bytes */
    uint64_t stored, size;  /* compressed and uncompressed sizes */
    int method;             /* 0 stored, 8 deflate */
    uint32_t crc;
} ZipMember;

/* Finds member `name` through the central directory (zip64 included, as
 * numpy writes it); false (reported) when the file is no zip or lacks it. */
static bool zip_find(const uint8_t *z, size_t size, const char *name, ZipMember *m, const Loc *loc, Diags *diags)
{
    size_t eocd = 0;
    bool found = false;
    for (size_t back = 22; back <= size && back <= 22 + 65535 && !found; back++)
        if (le32(z + size - back) == 0x06054b50) {
            eocd = size - back;
            found = true;
        }
    if (!found) {
        diag_error(diags, loc, "not an .npz file (no zip directory)");
        return false;
    }
    uint64_t entries = le16(z + eocd + 10), cd = le32(z + eocd + 16);
    if ((entries == 0xffff || cd == 0xffffffff) && eocd >= 20 && le32(z + eocd - 20) == 0x07064b50) {
        uint64_t at = le64(z + eocd - 20 + 8);
        if (size < 56 || at > size - 56 || le32(z + at) != 0x06064b50) {
            diag_error(diags, loc, "corrupt .npz file (zip64 directory)");
            return false;
        }
        entries = le64(z + at + 32);
        cd = le64(z + at + 48);
    }
    uint64_t p = cd;
    for (uint64_t e = 0; e < entries; e++) {
        if (p > size || size - p < 46 || le32(z + p) != 0x02014b50) {
            diag_error(diags, loc, "corrupt .npz file (zip directory entry %llu)", (unsigned long long)e);
            return false;
        }
        uint64_t name_len = le16(z + p + 28), extra_len = le16(z + p + 30), comment_len = le16(z + p + 32);
        if (size - p - 46 < name_len + extra_len + comment_len) {
            diag_error(diags, loc, "corrupt .npz file (zip directory entry %llu)", (unsigned long long)e);
            return false;
        }
        const uint8_t *entry_name = z + p + 46;
        if (name_len == strlen(name) && memcmp(entry_name, name, name_len) == 0) {
            uint64_t stored = le32(z + p + 20), full = le32(z + p + 24), local = le32(z + p + 42);
            /* zip64 extra field: the sizes and offset that are 0xffffffff, in that order */
            for (uint64_t x = 0; x + 4 <= extra_len;) {
                const uint8_t *f = entry_name + name_len + x;
                uint64_t id = le16(f), len = le16(f + 2), at = 4;
                if (x + 4 + len > extra_len)
                    break;
                if (id == 1) {
                    if (full == 0xffffffff && at + 8 <= 4 + len)
                        full = le64(f + at), at += 8;
                    if (stored == 0xffffffff && at + 8 <= 4 + len)
                        stored = le64(f + at), at += 8;
                    if (local == 0xffffffff && at + 8 <= 4 + len)
                        local = le64(f + at);
                }
                x += 4 + len;
            }
            if (local > size || size - local < 30 || le32(z + local) != 0x04034b50) {
                diag_error(diags, loc, "corrupt .npz file (the local header of %s)", name);
                return false;
            }
            uint64_t start = local + 30 + le16(z + local + 26) + le16(z + local + 28);
            if (start > size || size - start < stored) {
                diag_error(diags, loc, "corrupt .npz file: member %s is cut short", name);
                return false;
            }
            *m = (ZipMember){.data = z + start, .stored = stored, .size = full, .method = (int)le16(z + p + 10),
                             .crc = le32(z + p + 16)};
            return true;
        }
        p += 46 + name_len + extra_len + comment_len;
    }
    diag_error(diags, loc, "the .npz file has no array '%.*s' (it needs x and y)", (int)strlen(name) - 4, name);
    return false;
}

/* Member `name`'s bytes (malloc'ed), checked against its CRC. */
static uint8_t *zip_member(const uint8_t *z, size_t size, const char *name, size_t *out_size, const Loc *loc,
                           Diags *diags)
{
    ZipMember m;
    if (!zip_find(z, size, name, &m, loc, diags))
        return NULL;
    if (m.method != 0 && m.method != 8) {
        diag_error(diags, loc, "member %s is compressed with zip method %d (stored and deflate are read)", name,
                   m.method);
        return NULL;
    }
    if (!memory_check(m.size, 1, "an .npz member", loc, diags))
        return NULL;
    uint8_t *out;
    if (m.method == 0) {
        out = malloc(m.stored ? m.stored : 1);
        if (out)
            memcpy(out, m.data, m.stored);
        *out_size = m.stored;
    } else {
        out = data_inflate(m.data, m.stored, true, out_size, loc, diags);
        if (!out)
            return NULL;
    }
    if (!out) {
        diag_error(diags, loc, "out of memory");
        return NULL;
    }
    uLong crc = 0;
    for (size_t done = 0; done < *out_size;) {
        uInt step = *out_size - done > (1u << 30) ? 1u << 30 : (uInt)(*out_size - done);
        crc = crc32(crc, out + done, step);
        done += step;
    }
    if (*out_size != m.size || crc != m.crc) {
        diag_error(diags, loc, "corrupt .npz file: member %s fails its %s check", name,
                   *out_size != m.size ? "size" : "CRC");
        free(out);
        return NULL;
    }
    return out;
}

bool load_npz_memory(DataLoad *d, const char *path, const uint8_t *bytes, size_t size)
{
    Loc loc = {.file = path};
    Tensor t[2];
    bool u8[2], ok = true;
    const char *names[2] = {"x.npy", "y.npy"}, *member_paths[2];
    for (int i = 0; i < 2 && ok; i++) {
        size_t member_size = 0;
        uint8_t *member = zip_member(bytes, size, names[i], &member_size, &loc, d->diags);
        member_paths[i] = arena_printf(d->arena, "%s:%s", path, names[i]);
        ok = member && read_array(d, member_paths[i], member, member_size, &t[i], &u8[i]);
        free(member);
    }
    return ok && take_images(d, &t[0], u8[0], member_paths[0]) && take_labels(d, &t[1], member_paths[1]);
}

bool load_npz(DataLoad *d, const char *path)
{
    if (!data_no_split(d, path))
        return false;
    Loc loc = {.file = path};
    FileBytes bytes;
    if (!file_read(path, 0, &loc, d->diags, &bytes))
        return false;
    bool ok = load_npz_memory(d, path, bytes.data, bytes.size);
    file_release(&bytes);
    return ok;
}

/* ---- CIFAR-10/100 binary batches ---- */

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Records of 1 label byte (CIFAR-10) or 2 (CIFAR-100's train.bin and
 * test.bin: coarse then fine, the fine one taken), then the image's bytes,
 * channel-major.  The file's bytes are mapped (file_read), not copied. */
static bool read_cifar_file(DataLoad *d, const char *path, FileBytes *bytes, int *label_bytes)
{
    const char *base = base_name(path);
    *label_bytes = strcmp(base, "train.bin") == 0 || strcmp(base, "test.bin") == 0 ? 2 : 1;
    Loc loc = {.file = path};
    if (!file_read(path, 0, &loc, d->diags, bytes))
        return false;
    size_t record = (size_t)*label_bytes + (size_t)d->image_numel;
    if (bytes->size == 0 || bytes->size % record) {
        diag_error(d->diags, &loc, "%zu bytes are not whole records of %d label byte%s + %lld image bytes (the "
                   "model's input %s)", bytes->size, *label_bytes, *label_bytes > 1 ? "s" : "",
                   (long long)d->image_numel, type_format(d->arena, d->input));
        file_release(bytes);
        return false;
    }
    return true;
}

bool load_cifar(DataLoad *d, const char *path)
{
    const char *files[6];
    int n_files = 0;
    bool dir = !ends_with(path, ".bin");
    if (!dir) {
        if (!data_no_split(d, path))
            return false;
        files[n_files++] = path;
    } else {
        const char *test[] = {"test_batch.bin", "test.bin"};
        const char *train[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                               "data_batch_5.bin", "train.bin"};
        bool is_train = strcmp(d->split, "train") == 0;
        const char **names = is_train ? train : test;
        int n_names = is_train ? 6 : 2;
        for (int i = 0; i < n_names; i++) {
            const char *p = arena_printf(d->arena, "%s/%s", path, names[i]);
            FILE *f = fopen(p, "rb");
            if (f) {
                fclose(f);
                files[n_files++] = p;
            }
        }
        if (!n_files) {
            Loc loc = {.file = path};
            diag_error(d->diags, &loc, "no CIFAR %s batches here (%s)", d->split,
                       is_train ? "data_batch_1.bin to data_batch_5.bin, or train.bin" : "test_batch.bin or test.bin");
            return false;
        }
    }
    FileBytes raw[6];
    int label_bytes[6];
    int64_t total = 0;
    int got = 0;
    bool ok = true;
    for (; got < n_files && ok; got++) {
        ok = read_cifar_file(d, files[got], &raw[got], &label_bytes[got]);
        if (ok)
            total += (int64_t)(raw[got].size / ((size_t)label_bytes[got] + (size_t)d->image_numel));
        else
            got--;
    }
    ok = ok && data_alloc(d, total, files[0]);
    int64_t record = 0;
    for (int f = 0; f < got; f++) {
        size_t rec_size = (size_t)label_bytes[f] + (size_t)d->image_numel;
        for (size_t at = 0; ok && at < raw[f].size; at += rec_size, record++) {
            const uint8_t *r = raw[f].data + at;
            ok = data_label(d, record, (int64_t)(at / rec_size), r[label_bytes[f] - 1], files[f]);
            float *dst = d->out->images + record * d->image_numel;
            const uint8_t *px = r + label_bytes[f];
            for (int64_t j = 0; j < d->image_numel; j++)
                dst[j] = d->scale[px[j]];
        }
        file_release(&raw[f]);
    }
    return ok;
}

/* ---- IDX files (MNIST, Fashion-MNIST, KMNIST, EMNIST) ---- */

/* The file of a directory whose name has `kind` ("images-idx3", "labels-idx1")
 * and the split (train; t10k or test). */
static const char *idx_file(DataLoad *d, const char *dir, const char *kind)
{
    struct dirent **names;
    int n = data_list_dir(d, dir, &names);
    if (n < 0)
        return NULL;
    const char *found = NULL;
    bool train = strcmp(d->split, "train") == 0;
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        if (!found && strstr(name, kind) &&
            (train ? strstr(name, "train") != NULL : strstr(name, "t10k") || strstr(name, "test")))
            found = arena_printf(d->arena, "%s/%s", dir, name);
        free(names[i]);
    }
    free(names);
    if (!found) {
        Loc loc = {.file = dir};
        diag_error(d->diags, &loc, "no IDX %s file of the %s split here (e.g. %s-%s-ubyte.gz)", kind, d->split,
                   train ? "train" : "t10k", kind);
    }
    return found;
}

bool load_idx_dir(DataLoad *d, const char *dir)
{
    const char *images_path = idx_file(d, dir, "images-idx3");
    const char *labels_path = images_path ? idx_file(d, dir, "labels-idx1") : NULL;
    if (!labels_path)
        return false;
    uint32_t idims[3], ldims[1];
    unsigned char *pixels = data_read_idx(d->arena, images_path, 3, idims, d->diags);
    unsigned char *labels = pixels ? data_read_idx(d->arena, labels_path, 1, ldims, d->diags) : NULL;
    if (!labels)
        return false;
    Loc loc = {.file = images_path};
    if ((int64_t)idims[1] * idims[2] != d->image_numel) {
        diag_error(d->diags, &loc, "images of %ux%u, the model's input %s takes %lld elements", idims[1], idims[2],
                   type_format(d->arena, d->input), (long long)d->image_numel);
        return false;
    }
    if (ldims[0] != idims[0]) {
        Loc lloc = {.file = labels_path};
        diag_error(d->diags, &lloc, "%u labels for %u images", ldims[0], idims[0]);
        return false;
    }
    if (!data_alloc(d, idims[0], images_path))
        return false;
    size_t n = (size_t)idims[0] * (size_t)d->image_numel;
    for (size_t i = 0; i < n; i++)
        d->out->images[i] = d->scale[pixels[i]];
    for (uint32_t i = 0; i < idims[0]; i++)
        if (!data_label(d, i, i, labels[i], labels_path))
            return false;
    return true;
}

/* ---- a folder of input tensors and labels.txt ---- */

bool load_tensor_dir(DataLoad *d, const char *dir)
{
    if (!data_no_split(d, dir))
        return false;
    struct dirent **names;
    int n = data_list_dir(d, dir, &names);
    if (n < 0)
        return false;
    Tensor *tensors = arena_array(d->arena, (size_t)n + 1, sizeof(Tensor));
    bool *u8 = arena_array(d->arena, (size_t)n + 1, sizeof(bool));
    const char **paths = arena_array(d->arena, (size_t)n + 1, sizeof(char *));
    int kept = 0;
    int64_t total = 0;
    bool ok = true;
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        if (ok && (ends_with(name, ".npy") || ends_with(name, ".pb"))) {
            paths[kept] = arena_printf(d->arena, "%s/%s", dir, name);
            Loc file = {.file = paths[kept]};
            FileBytes bytes;
            ok = file_read(paths[kept], 0, &file, d->diags, &bytes);
            if (ok) {
                ok = read_array(d, paths[kept], bytes.data, bytes.size, &tensors[kept], &u8[kept]);
                file_release(&bytes);
            }
            int64_t numel = ok ? type_numel(&tensors[kept].type) : 0;
            if (ok && numel % d->image_numel) {
                diag_error(d->diags, &file, "a tensor of %s is not a whole number of the model's inputs %s",
                           type_format(d->arena, &tensors[kept].type), type_format(d->arena, d->input));
                ok = false;
            }
            total += numel / d->image_numel;
            kept++;
        }
        free(names[i]);
    }
    free(names);
    const char *labels_path = arena_printf(d->arena, "%s/labels.txt", dir);
    if (!ok || !data_alloc(d, total, dir))
        return false;
    int64_t at = 0;
    for (int i = 0; i < kept; i++) {
        int64_t numel = type_numel(&tensors[i].type);
        for (int64_t j = 0; j < numel; j++)
            d->out->images[at + j] = u8[i] ? d->scale[(uint8_t)tensors[i].data[j]] : tensors[i].data[j];
        at += numel;
    }
    if (d->o->unlabelled && access(labels_path, F_OK) != 0)
        return true;            /* inputs without labels (calibration): labels stay 0 */
    size_t size;
    uint8_t *text = data_read_file(labels_path, &size, d->diags);
    if (!text)
        return false;
    int64_t count = 0;
    Loc lloc = {.file = labels_path};
    for (size_t p = 0; ok && p < size;) {
        size_t end = p;
        while (end < size && text[end] != '\n')
            end++;
        char line[64];
        size_t len = end - p < sizeof line - 1 ? end - p : sizeof line - 1;
        memcpy(line, text + p, len);
        line[len] = '\0';
        char *stop;
        long v = strtol(line, &stop, 10);
        while (*stop == ' ' || *stop == '\r' || *stop == '\t')
            stop++;
        if (len == 0 && end == size) {
            /* a last empty line */
        } else if (stop == line || *stop) {
            lloc.line = (int)count + 1;
            lloc.col = 1;
            diag_error(d->diags, &lloc, "not an integer label: '%s'", line);
            ok = false;
        } else if (count >= d->out->count) {
            diag_error(d->diags, &lloc, "more labels than the %d inputs of the folder", d->out->count);
            ok = false;
        } else {
            ok = data_label(d, count, count, (double)v, labels_path);
            count++;
        }
        p = end + 1;
    }
    free(text);
    if (ok && count != d->out->count) {
        diag_error(d->diags, &lloc, "%lld labels for %d inputs", (long long)count, d->out->count);
        ok = false;
    }
    return ok;
}
