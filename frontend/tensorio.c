/* tensorio.c: tensors in ONNX TensorProto (.pb) and NumPy (.npy) files.
 *
 * .pb files are the format of ONNX's backend test data; they are decoded by
 * onnx.c's TensorProto reader.  .npy files (format 1.0, 2.0 and 3.0 headers,
 * C order) may hold '<f4', '<f8', '<f2', '|i1', '<i2', '<i4', '<i8', '|u1',
 * '<u2', '<u4', '<u8' or '|b1' data.  Either is read in its own element type
 * (Tensor.type.dtype) into float32 storage (ir.h); an integer beyond +-2^24,
 * not exact in it, is refused naming the file and the element.  A tensor is
 * written in its dtype: an i64 output as int64, a bool one as bool.  A tensor read from a file is named
 * after the proto's name, or after the file (its base name without extension)
 * when there is none.  Writes go to a temporary file next to the target that
 * is renamed over it at the end (ir/file.c), so a failed write leaves nothing
 * behind. */
#include "frontend/frontend.h"
#include "frontend/onnx_node.h"
#include "onnx.pb-c.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool has_suffix(const char *path, const char *suffix)
{
    size_t n = strlen(path), m = strlen(suffix);
    return n >= m && strcmp(path + n - m, suffix) == 0;
}

static const char *file_stem(Arena *arena, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    char *stem = arena_alloc(arena, n + 1);
    memcpy(stem, base, n);
    return stem;
}

/* The tensor's type from dims: rank at most IR_MAX_RANK, every dim >= 1. */
static bool make_type(Diags *diags, const Loc *loc, int rank, const int64_t *dims, Type *out)
{
    if (rank > IR_MAX_RANK) {
        diag_error(diags, loc, "tensor has rank %d, more than %d", rank, IR_MAX_RANK);
        return false;
    }
    int64_t numel = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 1 || dims[i] > IR_MAX_NUMEL / numel) {
            diag_error(diags, loc, "tensor has an empty or absurd dimension %d of size %lld", i, (long long)dims[i]);
            return false;
        }
        numel *= dims[i];
    }
    *out = type_make(rank, dims);
    return true;
}

/* ---- .pb ---- */

/* Integer data must be exact in float32 storage. */
static bool check_exact(Diags *diags, const Loc *loc, const int64_t *ints, int64_t numel)
{
    for (int64_t j = 0; ints && j < numel; j++)
        if (ints[j] < -DTYPE_EXACT_INT || ints[j] > DTYPE_EXACT_INT) {
            diag_error(diags, loc, "element %lld is %lld, beyond float32's exact integers (+-2^24): not supported",
                       (long long)j, (long long)ints[j]);
            return false;
        }
    return true;
}

static bool read_pb(Arena *arena, const char *path, const uint8_t *bytes, size_t size, const Loc *loc,
                    Tensor *out, Diags *diags)
{
    OnnxConst k;
    const char *name;
    DType dtype;
    if (!onnx_read_tensor_memory(arena, path, bytes, size, &name, &k, diags))
        return false;
    if (!onnx_dtype(k.elem_type, &dtype) || !k.f) {
        diag_error(diags, loc, "the tensor has element type %s, which is not supported",
                   onnx_elem_type_name(k.elem_type));
        return false;
    }
    if (!make_type(diags, loc, k.rank, k.dims, &out->type) || !check_exact(diags, loc, k.i, k.numel))
        return false;
    out->type.dtype = dtype;
    out->name = *name ? name : file_stem(arena, path);
    out->data = k.f;
    return true;
}

/* ---- .npy ---- */

/* The text of key `key` in the header dict: points just after "'key':". */
static const char *npy_field(const char *header, const char *key)
{
    char quoted[32];
    snprintf(quoted, sizeof quoted, "'%s'", key);
    const char *p = strstr(header, quoted);
    if (!p)
        return NULL;
    p += strlen(quoted);
    while (*p == ' ')
        p++;
    if (*p != ':')
        return NULL;
    p++;
    while (*p == ' ')
        p++;
    return p;
}

typedef struct {
    const char *descr;
    size_t size;
    DType dtype;
} NpyType;

static const NpyType npy_types[] = {
    {"<f4", 4, DT_F32}, {"<f8", 8, DT_F64}, {"<f2", 2, DT_F16}, {"|i1", 1, DT_I8}, {"<i2", 2, DT_I16},
    {"<i4", 4, DT_I32}, {"<i8", 8, DT_I64}, {"|u1", 1, DT_U8},  {"<u2", 2, DT_U16}, {"<u4", 4, DT_U32},
    {"<u8", 8, DT_U64}, {"|b1", 1, DT_BOOL},
};

/* The npy_types entry of a dtype. */
static const NpyType *npy_type_of(DType dtype)
{
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (npy_types[i].dtype == dtype)
            return &npy_types[i];
    return &npy_types[0];
}

/* One element: the float, or for integer types false when it is beyond the
 * exact range (*big gets it). */
static bool npy_element(const uint8_t *p, int type, float *f, long long *big)
{
    uint64_t u = 0;
    for (size_t b = 0; b < npy_types[type].size; b++)
        u |= (uint64_t)p[b] << (8 * b);
    int64_t v;
    switch (npy_types[type].dtype) {
    case DT_F32: { uint32_t w = (uint32_t)u; memcpy(f, &w, 4); return true; }
    case DT_F64: { double d; memcpy(&d, &u, 8); *f = (float)d; return true; }
    case DT_F16: *f = half_to_float((uint32_t)u); return true;
    case DT_I8: v = (int8_t)u; break;
    case DT_I16: v = (int16_t)u; break;
    case DT_I32: v = (int32_t)u; break;
    case DT_I64: v = (int64_t)u; break;
    case DT_BOOL: v = u != 0; break;
    default: v = u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)u; break;     /* unsigned */
    }
    *f = (float)v;
    *big = v;
    return v >= -DTYPE_EXACT_INT && v <= DTYPE_EXACT_INT;
}

/* Parses "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }". */
static bool npy_header(Diags *diags, const Loc *loc, const char *header, int *type, int *rank, int64_t *dims)
{
    const char *descr = npy_field(header, "descr"), *order = npy_field(header, "fortran_order");
    const char *shape = npy_field(header, "shape");
    if (!descr || !order || !shape || *descr != '\'' || *shape != '(') {
        diag_error(diags, loc, "malformed .npy header");
        return false;
    }
    *type = -1;
    for (int i = 0; i < (int)(sizeof npy_types / sizeof npy_types[0]); i++)
        if (strncmp(descr + 1, npy_types[i].descr, 3) == 0 && descr[4] == '\'')
            *type = i;
    if (*type < 0) {
        const char *end = strchr(descr + 1, '\'');
        diag_error(diags, loc, "unsupported .npy dtype %.*s (supported: <f4 <f8 <f2 |i1 <i2 <i4 <i8 |u1 <u2 <u4 <u8 |b1)",
                   end ? (int)(end - descr + 1) : 8, descr);
        return false;
    }
    if (strncmp(order, "False", 5) != 0) {
        diag_error(diags, loc, ".npy data in Fortran order is not supported (save it in C order)");
        return false;
    }
    *rank = 0;
    const char *p = shape + 1;
    for (;;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == ')')
            return true;
        char *end;
        long long d = strtoll(p, &end, 10);
        if (end == p || *rank == IR_MAX_RANK) {
            diag_error(diags, loc, "malformed or too long .npy shape");
            return false;
        }
        dims[(*rank)++] = d;
        p = end;
    }
}

static bool read_npy(Arena *arena, const char *path, const uint8_t *bytes, size_t size, const Loc *loc,
                     Tensor *out, Diags *diags)
{
    bool ok = false;
    size_t header_len = 0, start = 0;
    if (size >= 10 && memcmp(bytes, "\x93NUMPY", 6) == 0) {
        if (bytes[6] == 1) {
            header_len = bytes[8] | (size_t)bytes[9] << 8;
            start = 10;
        } else if ((bytes[6] == 2 || bytes[6] == 3) && size >= 12) {
            header_len = bytes[8] | (size_t)bytes[9] << 8 | (size_t)bytes[10] << 16 | (size_t)bytes[11] << 24;
            start = 12;
        }
    }
    int type, rank;
    int64_t dims[IR_MAX_RANK];
    if (!start || header_len > size - start) {
        diag_error(diags, loc, "not a .npy file (bad magic, version or header length)");
    } else {
        char *header = arena_alloc(arena, header_len + 1);
        memcpy(header, bytes + start, header_len);
        if (npy_header(diags, loc, header, &type, &rank, dims) && make_type(diags, loc, rank, dims, &out->type)) {
            size_t numel = (size_t)type_numel(&out->type), es = npy_types[type].size;
            const uint8_t *data = bytes + start + header_len;
            if (size - start - header_len != numel * es) {
                diag_error(diags, loc, ".npy data has %zu bytes, expected %zu for shape %s", size - start - header_len,
                           numel * es, type_format(arena, &out->type));
            } else {
                out->data = arena_array(arena, numel, sizeof(float));
                out->type.dtype = npy_types[type].dtype;
                ok = true;
                long long big = 0;
                for (size_t i = 0; i < numel && ok; i++)
                    if (!npy_element(data + i * es, type, &out->data[i], &big)) {
                        diag_error(diags, loc, "element %zu is %lld, beyond float32's exact integers (+-2^24): not "
                                   "supported", i, big);
                        ok = false;
                    }
                out->name = file_stem(arena, path);
            }
        }
    }
    return ok;
}

bool tensor_read_memory(Arena *arena, const char *path, const uint8_t *bytes, size_t size, Tensor *out,
                        Diags *diags)
{
    Loc loc = {.file = arena_strdup(arena, path)};
    memset(out, 0, sizeof *out);
    if (size == 0) {
        diag_error(diags, &loc, "file is empty");
        return false;
    }
    if (has_suffix(path, ".pb"))
        return read_pb(arena, path, bytes, size, &loc, out, diags);
    if (has_suffix(path, ".npy"))
        return read_npy(arena, path, bytes, size, &loc, out, diags);
    diag_error(diags, &loc, "unknown tensor file type (expected a .pb or .npy file name)");
    return false;
}

bool tensor_read(Arena *arena, const char *path, Tensor *out, Diags *diags)
{
    Loc loc = {.file = arena_strdup(arena, path)};
    memset(out, 0, sizeof *out);
    if (!has_suffix(path, ".pb") && !has_suffix(path, ".npy")) {
        diag_error(diags, &loc, "unknown tensor file type (expected a .pb or .npy file name)");
        return false;
    }
    FileBytes bytes;
    if (!file_read(path, 0, &loc, diags, &bytes))
        return false;
    bool ok = tensor_read_memory(arena, path, bytes.data, bytes.size, out, diags);
    file_release(&bytes);
    return ok;
}

/* ---- writing ---- */

/* The data as little-endian bytes of its dtype (malloc'ed); *es gets the
 * element size.  Integer storage is exact (ir.h), so the conversion is too. */
static uint8_t *le_elements(const Tensor *t, size_t numel, size_t *es)
{
    DType d = t->type.dtype;
    *es = npy_type_of(d)->size;
    uint8_t *bytes = malloc(numel * *es + 1);
    for (size_t i = 0; bytes && i < numel; i++) {
        float f = t->data[i];
        uint64_t u;
        switch (d) {
        case DT_F32: { uint32_t w; memcpy(&w, &f, 4); u = w; break; }
        case DT_F64: { double x = f; memcpy(&u, &x, 8); break; }
        case DT_F16: u = float_to_half(f); break;
        case DT_BOOL: u = f != 0.0f; break;
        default: u = fabsf(f) < 0x1p62f ? (uint64_t)(int64_t)f : 0; break;     /* no int storage is that big */
        }
        for (size_t b = 0; b < *es; b++)
            bytes[*es * i + b] = (uint8_t)(u >> (8 * b));
    }
    return bytes;
}

/* The whole file content (malloc'ed) for a .npy tensor: a 1.0 header padded
 * with spaces to a multiple of 64 bytes, then the data. */
static uint8_t *npy_bytes(const Tensor *t, size_t *size)
{
    char dict[IR_MAX_RANK * 24 + 96];
    size_t n = (size_t)snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                                npy_type_of(t->type.dtype)->descr);
    for (int i = 0; i < t->type.rank; i++)
        n += (size_t)snprintf(dict + n, sizeof dict - n, "%s%lld", i ? ", " : "", (long long)t->type.dims[i]);
    n += (size_t)snprintf(dict + n, sizeof dict - n, "%s), }", t->type.rank == 1 ? "," : "");
    size_t header_len = (10 + n + 1 + 63) / 64 * 64 - 10;
    size_t numel = (size_t)type_numel(&t->type);
    size_t es;
    uint8_t *data = le_elements(t, numel, &es), *bytes = malloc(10 + header_len + numel * es);
    if (!data || !bytes) {
        free(data);
        free(bytes);
        return NULL;
    }
    memcpy(bytes, "\x93NUMPY\x01\x00", 8);
    bytes[8] = (uint8_t)header_len;
    bytes[9] = (uint8_t)(header_len >> 8);
    memcpy(bytes + 10, dict, n);
    memset(bytes + 10 + n, ' ', header_len - n - 1);
    bytes[10 + header_len - 1] = '\n';
    memcpy(bytes + 10 + header_len, data, numel * es);
    free(data);
    *size = 10 + header_len + numel * es;
    return bytes;
}

/* The serialized TensorProto (malloc'ed): dims, the data type, the name, raw_data. */
static uint8_t *pb_bytes(const Tensor *t, size_t *size)
{
    Onnx__TensorProto proto = ONNX__TENSOR_PROTO__INIT;
    int64_t dims[IR_MAX_RANK];
    for (int i = 0; i < t->type.rank; i++)
        dims[i] = t->type.dims[i];
    size_t numel = (size_t)type_numel(&t->type);
    proto.n_dims = (size_t)t->type.rank;
    proto.dims = dims;
    proto.has_data_type = true;
    proto.data_type = onnx_elem_of_dtype(t->type.dtype);
    proto.name = (char *)(t->name ? t->name : "");
    proto.has_raw_data = true;
    size_t es;
    proto.raw_data.data = le_elements(t, numel, &es);
    proto.raw_data.len = numel * es;
    uint8_t *bytes = proto.raw_data.data ? malloc(onnx__tensor_proto__get_packed_size(&proto) + 1) : NULL;
    if (bytes)
        *size = onnx__tensor_proto__pack(&proto, bytes);
    free(proto.raw_data.data);
    return bytes;
}

bool tensor_write(const Tensor *tensor, Outputs *outs, const char *path, Diags *diags)
{
    Loc loc = {.file = arena_strdup(diags->arena, path)};
    bool npy = has_suffix(path, ".npy");
    if (!npy && !has_suffix(path, ".pb")) {
        diag_error(diags, &loc, "unknown tensor file type (expected a .pb or .npy file name)");
        return false;
    }
    size_t size = 0;
    uint8_t *bytes = npy ? npy_bytes(tensor, &size) : pb_bytes(tensor, &size);
    if (!bytes) {
        diag_error(diags, &loc, "out of memory");
        return false;
    }
    bool ok = outputs_write(outs, path, bytes, size);
    free(bytes);
    return ok;
}

int tensor_pb_elem_type(const char *path)
{
    Arena *arena = arena_new();
    Diags diags;
    diags_init(&diags, arena);
    Loc loc = {.file = path};
    FileBytes bytes;
    int type = -1;
    if (file_read(path, 0, &loc, &diags, &bytes)) {
        Onnx__TensorProto *t = onnx__tensor_proto__unpack(NULL, bytes.size, bytes.data);
        if (t) {
            type = t->has_data_type ? t->data_type : 0;
            onnx__tensor_proto__free_unpacked(t, NULL);
        }
        file_release(&bytes);
    }
    arena_free(arena);
    return type;
}
