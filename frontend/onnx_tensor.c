/* onnx_tensor.c: ONNX TensorProto -> OnnxConst, and the file readers.
 *
 * Initializers, Constant values, attribute tensors, bound inputs and .pb
 * tensor files all go through here.  A tensor is decoded in two steps, so that
 * its shape can be checked (rank, absurd sizes, external or segmented data,
 * the data present for that shape) and an IR constant allocated before the
 * data is copied straight into it:
 * onnx_tensor_shape() then onnx_tensor_data().  Raw data is little-endian
 * whatever the host; the typed fields (float_data, int64_data...) are read by
 * the element type, as the ONNX IR specification lays them out. */
#include "frontend/onnx_tensor.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DIM ((int64_t)1 << 31)

const char *onnx_elem_type_name(int elem_type)
{
    static const char *const names[] = {
        "undefined", "float", "uint8", "int8", "uint16", "int16", "int32", "int64", "string",
        "bool", "float16", "double", "uint32", "uint64", "complex64", "complex128", "bfloat16"};
    if (elem_type >= 0 && elem_type < (int)(sizeof names / sizeof names[0]))
        return names[elem_type];
    return "unknown";
}

/* Bytes per element of the types the frontend decodes, else 0. */
static size_t elem_size(int elem_type)
{
    switch (elem_type) {
    case ONNX_FLOAT: case ONNX_INT32: case ONNX_UINT32: return 4;
    case ONNX_DOUBLE: case ONNX_INT64: case ONNX_UINT64: return 8;
    case ONNX_INT16: case ONNX_UINT16: case ONNX_FLOAT16: return 2;
    case ONNX_INT8: case ONNX_UINT8: case ONNX_BOOL: return 1;
    default: return 0;
    }
}

bool onnx_elem_is_float(int elem_type)
{
    return elem_type == ONNX_FLOAT || elem_type == ONNX_DOUBLE || elem_type == ONNX_FLOAT16;
}

bool onnx_elem_is_integer(int elem_type)
{
    return elem_size(elem_type) && !onnx_elem_is_float(elem_type);
}

/* ONNX TensorProto.DataType numbers of the DTypes, in DType order. */
static const int onnx_of_dtype[DT_COUNT] = {
    [DT_F32] = ONNX_FLOAT, [DT_F64] = ONNX_DOUBLE, [DT_F16] = ONNX_FLOAT16, [DT_I8] = ONNX_INT8,
    [DT_I16] = ONNX_INT16, [DT_I32] = ONNX_INT32, [DT_I64] = ONNX_INT64, [DT_U8] = ONNX_UINT8,
    [DT_U16] = ONNX_UINT16, [DT_U32] = ONNX_UINT32, [DT_U64] = ONNX_UINT64, [DT_BOOL] = ONNX_BOOL,
};

bool onnx_dtype(int elem_type, DType *out)
{
    for (int d = 0; d < DT_COUNT; d++)
        if (onnx_of_dtype[d] == elem_type) {
            *out = (DType)d;
            return true;
        }
    return false;
}

int onnx_elem_of_dtype(DType dtype)
{
    return (unsigned)dtype < DT_COUNT ? onnx_of_dtype[dtype] : 0;
}

/* IEEE half precision bits -> float (exact: every half is a float). */
float half_to_float(uint32_t h)
{
    uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f)
        bits = sign | 0x7f800000u | (man << 13);            /* inf, nan */
    else if (exp)
        bits = sign | ((exp + 112) << 23) | (man << 13);    /* normal: rebias 15 -> 127 */
    else {
        float f = (float)man * 0x1p-24f;                    /* subnormal (or zero) */
        return sign ? -f : f;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t float_to_half(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, exp = (x >> 23) & 0xff, man = x & 0x7fffffu;
    if (exp == 0xff)                                        /* inf, nan (kept quiet) */
        return (uint16_t)(sign | 0x7c00u | (man ? 0x200u | (man >> 13) : 0));
    int e = (int)exp - 127 + 15;
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00u);                  /* overflow: inf */
    uint32_t m = man | 0x800000u;                           /* 24 significant bits */
    int shift = e > 0 ? 13 : 14 - e;                        /* to 10 bits (normal) or fewer (subnormal) */
    if (shift > 24)
        return (uint16_t)sign;
    uint32_t q = m >> shift, rest = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    q += rest > half || (rest == half && (q & 1));          /* round half to even */
    if (e > 0)
        return (uint16_t)(sign | (((uint32_t)e << 10) + (q - 0x400u)));   /* a carry bumps the exponent */
    return (uint16_t)(sign | q);
}

/* How many values the typed field of elem_type holds (the ONNX IR
 * specification: which field each element type is stored in). */
static size_t typed_count(const Onnx__TensorProto *t, int elem_type)
{
    switch (elem_type) {
    case ONNX_FLOAT: return t->n_float_data;
    case ONNX_DOUBLE: return t->n_double_data;
    case ONNX_INT64: return t->n_int64_data;
    case ONNX_UINT32: case ONNX_UINT64: return t->n_uint64_data;
    default: return t->n_int32_data;
    }
}

/* Checks that `dims` make a sane tensor and stores them. */
bool onnx_check_dims(Diags *diags, const Loc *loc, const char *what, const char *name,
                     size_t rank, const int64_t *dims, OnnxConst *out)
{
    if (rank > IR_MAX_RANK) {
        diag_error(diags, loc, "%s '%s' has rank %zu, more than %d", what, name, rank, IR_MAX_RANK);
        return false;
    }
    int64_t numel = 1;
    for (size_t i = 0; i < rank; i++) {
        if (dims[i] < 0 || dims[i] > MAX_DIM) {
            diag_error(diags, loc, "%s '%s' has an absurd dimension %zu of size %lld", what, name, i,
                       (long long)dims[i]);
            return false;
        }
        if (dims[i] && numel > IR_MAX_NUMEL / dims[i]) {
            Type t = type_make((int)rank, dims);
            diag_error(diags, loc, "%s '%s' is absurdly large: %s has more than %lld elements", what, name,
                       type_format(diags->arena, &t), (long long)IR_MAX_NUMEL);
            return false;
        }
        numel *= dims[i];
        out->dims[i] = dims[i];
    }
    out->rank = (int)rank;
    out->numel = numel;
    return true;
}

/* The dims and element type of a TensorProto, checked. */
bool onnx_tensor_shape(Diags *diags, const Loc *loc, const char *name, const Onnx__TensorProto *t,
                       OnnxConst *out)
{
    memset(out, 0, sizeof *out);
    if ((t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) ||
        t->n_external_data) {
        diag_error(diags, loc, "tensor '%s' keeps its data in an external file, which is not supported", name);
        return false;
    }
    if (t->segment) {
        diag_error(diags, loc, "tensor '%s' is segmented, which is not supported", name);
        return false;
    }
    out->elem_type = t->has_data_type ? t->data_type : 0;
    if (!onnx_check_dims(diags, loc, "tensor", name, t->n_dims, t->dims, out))
        return false;
    /* The data must be there, all of it, before anything is allocated for it:
     * a 10-byte proto may declare 2^32 elements. */
    int et = out->elem_type;
    size_t es = elem_size(et), n = (size_t)out->numel;
    if (!es)
        return true;            /* not decoded: reported where it is used */
    if (t->has_raw_data) {
        if (t->raw_data.len != n * es) {
            diag_error(diags, loc, "tensor '%s' has %zu bytes of raw data, expected %zu (%zu %s elements)",
                       name, t->raw_data.len, n * es, n, onnx_elem_type_name(et));
            return false;
        }
        return true;
    }
    size_t have = typed_count(t, et);
    if (have != n) {
        diag_error(diags, loc, "tensor '%s' has %zu values, expected %zu", name, have, n);
        return false;
    }
    return true;
}

/* Element k of little-endian raw data, as float and (integer types) as int64. */
static void decode_raw(const uint8_t *p, int elem_type, float *f, int64_t *i)
{
    size_t n = elem_size(elem_type);
    uint64_t u = 0;
    for (size_t b = 0; b < n; b++)
        u |= (uint64_t)p[b] << (8 * b);
    switch (elem_type) {
    case ONNX_FLOAT: { uint32_t w = (uint32_t)u; memcpy(f, &w, 4); return; }
    case ONNX_DOUBLE: { double d; memcpy(&d, &u, 8); *f = (float)d; return; }
    case ONNX_FLOAT16: *f = half_to_float((uint32_t)u); return;
    case ONNX_INT8: *i = (int8_t)u; break;
    case ONNX_INT16: *i = (int16_t)u; break;
    case ONNX_INT32: *i = (int32_t)u; break;
    case ONNX_INT64: *i = (int64_t)u; break;
    case ONNX_BOOL: *i = u != 0; break;
    default: *i = (int64_t)u; break;        /* unsigned types */
    }
    *f = (float)*i;
}

/* Raw little-endian float32 data is the host's own float array on a
 * little-endian host: copied (or taken) as it is, not decoded element by element. */
static bool raw_is_host_floats(const Onnx__TensorProto *t, const OnnxConst *k)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return k->elem_type == ONNX_FLOAT && t->has_raw_data && t->raw_data.len == (size_t)k->numel * sizeof(float);
#else
    (void)t, (void)k;
    return false;
#endif
}

float *onnx_tensor_raw_floats(const Onnx__TensorProto *t, const OnnxConst *k)
{
    if (!raw_is_host_floats(t, k) || k->numel == 0 || (uintptr_t)t->raw_data.data % _Alignof(float))
        return NULL;
    return (float *)(void *)t->raw_data.data;
}

/* Decodes the data of `t` (whose shape `out` holds) into `dest` (numel floats;
 * NULL: allocate) and, for integer types, out->i.  Types the frontend does not
 * decode are left without data: they are reported where they are used. */
bool onnx_tensor_data(Arena *arena, Diags *diags, const Loc *loc, const char *name,
                      const Onnx__TensorProto *t, OnnxConst *out, float *dest)
{
    int et = out->elem_type;
    size_t es = elem_size(et), n = (size_t)out->numel;
    if (!es)
        return true;
    /* onnx_tensor_shape() has checked the data against numel: a mismatch
     * here is the caller's mistake, not the file's. */
    if (t->has_raw_data ? t->raw_data.len != n * es : typed_count(t, et) != n) {
        diag_error(diags, loc, "tensor '%s': data not checked against its shape", name);
        return false;
    }
    float *f = dest ? dest : arena_array(arena, n ? n : 1, sizeof(float));
    int64_t *iv = onnx_elem_is_integer(et) ? arena_array(arena, n ? n : 1, sizeof(int64_t)) : NULL;
    int64_t scratch;
    if (t->has_raw_data) {
        if (raw_is_host_floats(t, out) && n)
            memcpy(f, t->raw_data.data, n * sizeof(float));
        else
            for (size_t k = 0; k < n; k++)
                decode_raw(t->raw_data.data + k * es, et, &f[k], iv ? &iv[k] : &scratch);
    } else {
        for (size_t k = 0; k < n; k++) {
            switch (et) {
            case ONNX_FLOAT: f[k] = t->float_data[k]; break;
            case ONNX_DOUBLE: f[k] = (float)t->double_data[k]; break;
            case ONNX_INT64: iv[k] = t->int64_data[k]; break;
            case ONNX_UINT32: case ONNX_UINT64: iv[k] = (int64_t)t->uint64_data[k]; break;
            case ONNX_FLOAT16: f[k] = half_to_float((uint32_t)t->int32_data[k] & 0xffff); break;
            default: iv[k] = t->int32_data[k]; break;
            }
            if (iv)
                f[k] = (float)iv[k];
        }
    }
    out->f = f;
    out->i = iv;
    return true;
}

bool onnx_read_tensor_file(Arena *arena, const char *path, const char **name, OnnxConst *out,
                           Diags *diags)
{
    Loc loc = {.file = arena_strdup(arena, path)};
    FileBytes bytes;
    if (!file_read(path, 0, &loc, diags, &bytes))
        return false;
    bool ok = onnx_read_tensor_memory(arena, path, bytes.data, bytes.size, name, out, diags);
    file_release(&bytes);
    return ok;
}

bool onnx_read_tensor_memory(Arena *arena, const char *path, const uint8_t *bytes, size_t size,
                             const char **name, OnnxConst *out, Diags *diags)
{
    Loc loc = {.file = arena_strdup(arena, path)};
    Onnx__TensorProto *t = onnx__tensor_proto__unpack(NULL, size, bytes);
    if (!t) {
        diag_error(diags, &loc, "not an ONNX TensorProto file (protobuf parse failed)");
        return false;
    }
    *name = arena_strdup(arena, t->name ? t->name : "");
    const char *what = **name ? *name : path;
    bool ok = onnx_tensor_shape(diags, &loc, what, t, out) && onnx_tensor_data(arena, diags, &loc, what, t, out, NULL);
    onnx__tensor_proto__free_unpacked(t, NULL);
    return ok;
}
