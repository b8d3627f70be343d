/* onnx_fold.c: nodes computed at import, on known data (OnnxConst).
 *
 * Exports carry their shape arithmetic as nodes: `x.view(x.size(0), -1)` is
 * Shape -> Gather -> Unsqueeze -> Concat -> Reshape, and torch's
 * do_constant_folding=False leaves Cast, ConstantOfShape, Range, Expand,
 * Equal and Where on constants.  Every shape is static once the graph inputs
 * are bound, so these nodes are computed here, like a Constant: integer and
 * boolean results stay import-time data (a Reshape's shape, Gather's
 * indices), float ones also become IR constants (onnx.c).  Integer
 * arithmetic is exact in int64 (an overflow is an error), float arithmetic is
 * float32, as the interpreter's.
 *
 * The folding operators that also apply to a float value computed at run
 * time lower to IR ops where an exact form exists: onnx_fold_values.c. */
#include "frontend/onnx_fold.h"

#include <math.h>
#include <string.h>

/* ---- inputs ---- */

static bool known(const OnnxNode *n, int i)
{
    return onnx_has_input(n, i) && n->inputs[i].konst;
}

/* Input i, which must be known data of a decoded element type. */
const OnnxConst *onnx_fold_known_input(const OnnxNode *n, int i)
{
    if (!onnx_has_input(n, i))
        return onnx_fail(n, "input %d is missing", i), NULL;
    const OnnxConst *k = n->inputs[i].konst;
    if (!k)
        return onnx_fail(n, "'%s' is computed at run time: %s of such a value is not supported", n->inputs[i].name,
                         n->loc.node_op), NULL;
    if (!k->f)
        return onnx_fail(n, "unsupported element type %s for '%s'", onnx_elem_type_name(k->elem_type),
                         n->inputs[i].name), NULL;
    return k;
}

/* Input i as known integer data. */
const OnnxConst *onnx_fold_int_input(const OnnxNode *n, int i, const char *what)
{
    const OnnxConst *k = onnx_fold_known_input(n, i);
    if (k && !k->i)
        return onnx_fail(n, "%s '%s' must be an integer tensor, not %s", what, n->inputs[i].name,
                         onnx_elem_type_name(k->elem_type)), NULL;
    return k;
}

/* A scalar (or one-element) integer input: Gather's axis-free index, Range's bounds. */
static bool one_value(const OnnxNode *n, const OnnxConst *k, int i)
{
    if (k->numel != 1)
        return onnx_fail(n, "'%s' must hold one value, it holds %lld", n->inputs[i].name, (long long)k->numel), false;
    return true;
}

/* ---- results ---- */

/* A new known tensor of that type and shape, its size checked before its
 * data is allocated: together with all the import holds already, so that a
 * chain of large folded tensors (a 1 KB model can ask for many) stays within
 * the memory limit as a whole. */
OnnxConst *onnx_fold_result(const OnnxNode *n, int elem_type, int rank, const int64_t *dims)
{
    OnnxConst *k = arena_alloc(n->g->arena, sizeof *k);
    if (!onnx_check_dims(n->diags, &n->loc, "result", n->output, (size_t)rank, dims, k))
        return NULL;
    uint64_t held = arena_bytes(n->g->arena), bytes = (uint64_t)k->numel * (sizeof(float) + sizeof(int64_t));
    if (!memory_check(held + bytes, 1, "the result, with what the import holds already,", &n->loc, n->diags))
        return NULL;
    k->elem_type = elem_type;
    k->f = arena_array(n->g->arena, (size_t)k->numel + 1, sizeof(float));
    k->i = onnx_elem_is_integer(elem_type) ? arena_array(n->g->arena, (size_t)k->numel + 1, sizeof(int64_t)) : NULL;
    return k;
}

/* An integer value as the element type holds it (wrapped to its width). */
static int64_t wrap_int(int elem_type, int64_t v)
{
    uint64_t u = (uint64_t)v;
    switch (elem_type) {
    case ONNX_BOOL: return v != 0;
    case ONNX_INT8: return (int8_t)(uint8_t)u;
    case ONNX_UINT8: return (uint8_t)u;
    case ONNX_INT16: return (int16_t)(uint16_t)u;
    case ONNX_UINT16: return (uint16_t)u;
    case ONNX_INT32: return (int32_t)(uint32_t)u;
    case ONNX_UINT32: return (uint32_t)u;
    default: return v;
    }
}

/* x rounded to the nearest float16 (ties to even; subnormal steps below
 * 2^-14, inf above 65504). */
static float round_to_half(float x)
{
    if (isnan(x) || isinf(x) || x == 0)
        return x;
    float a = fabsf(x);
    int e = ilogbf(a);
    float quantum = ldexpf(1.0f, (e < -14 ? -14 : e) - 10);
    float r = nearbyintf(a / quantum) * quantum;
    return copysignf(r > 65504.0f ? INFINITY : r, x);
}

void onnx_fold_set_int(OnnxConst *k, int64_t j, int64_t v)
{
    k->i[j] = wrap_int(k->elem_type, v);
    k->f[j] = (float)k->i[j];
}

void onnx_fold_set_float(OnnxConst *k, int64_t j, float v)
{
    k->f[j] = k->elem_type == ONNX_FLOAT16 ? round_to_half(v) : v;
}

/* Element sj of src (of the same element type) as element dj of dst. */
void onnx_fold_copy(OnnxConst *dst, int64_t dj, const OnnxConst *src, int64_t sj)
{
    dst->f[dj] = src->f[sj];
    if (dst->i)
        dst->i[dj] = src->i[sj];
}

/* The same data under other dims (Reshape, Squeeze, Unsqueeze). */
static const OnnxConst *reshaped(const OnnxNode *n, const OnnxConst *k, int rank, const int64_t *dims)
{
    OnnxConst *r = arena_alloc(n->g->arena, sizeof *r);
    *r = *k;
    r->rank = rank;
    memcpy(r->dims, dims, (size_t)rank * sizeof *dims);
    return r;
}

/* ---- broadcasting (numpy, multidirectional) ---- */

bool onnx_fold_broadcast(const OnnxNode *n, int rank_a, const int64_t *a, int rank_b, const int64_t *b, int *rank,
                      int64_t *dims)
{
    *rank = rank_a > rank_b ? rank_a : rank_b;
    for (int i = 0; i < *rank; i++) {
        int ia = i - (*rank - rank_a), ib = i - (*rank - rank_b);
        int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return onnx_fail(n, "cannot broadcast dimension %d: %lld vs %lld", i, (long long)da, (long long)db),
                   false;
        dims[i] = da == 1 ? db : da;
    }
    return true;
}

/* The element of k that output element `flat` (of rank, dims) reads. */
static int64_t broadcast_source(const OnnxConst *k, int rank, const int64_t *dims, int64_t flat)
{
    int64_t index = 0, stride = 1;
    for (int axis = rank - 1; axis >= 0; axis--) {
        int64_t c = flat % dims[axis];
        flat /= dims[axis];
        int ia = axis - (rank - k->rank);
        if (ia < 0)
            break;
        if (k->dims[ia] != 1)
            index += c * stride;
        stride *= k->dims[ia];
    }
    return index;
}

/* ---- shapes ---- */

/* Shape (start and end since opset 15) and Size of a value whose shape is
 * static, computed at run time or not. */
static const OnnxConst *fold_shape(const OnnxNode *n, bool size)
{
    if (!onnx_has_input(n, 0))
        return onnx_fail(n, "input 0 is missing"), NULL;
    const OnnxInput *in = &n->inputs[0];
    int rank = in->value ? in->value->type.rank : in->konst->rank;
    const int64_t *dims = in->value ? in->value->type.dims : in->konst->dims;
    if (size) {
        OnnxConst *k = onnx_fold_result(n, ONNX_INT64, 0, NULL);
        int64_t numel = 1;
        for (int i = 0; k && i < rank; i++)
            numel *= dims[i];   /* bounded by IR_MAX_NUMEL: checked where the value was made */
        if (k)
            onnx_fold_set_int(k, 0, numel);
        return k;
    }
    int64_t start, end;
    if (!onnx_get_int(n, "start", 0, &start) || !onnx_get_int(n, "end", rank, &end))
        return NULL;
    start = start < 0 ? start + rank : start;
    end = end < 0 ? end + rank : end;
    start = start < 0 ? 0 : start > rank ? rank : start;
    end = end < start ? start : end > rank ? rank : end;
    int64_t count = end - start;
    OnnxConst *k = onnx_fold_result(n, ONNX_INT64, 1, &count);
    for (int64_t j = 0; k && j < count; j++)
        onnx_fold_set_int(k, j, dims[start + j]);
    return k;
}

/* EyeLike of a 2-D tensor, which needs only its (static) shape: ones on the
 * diagonal k (above the main one for k > 0), of element type dtype, by
 * default the input's. */
static const OnnxConst *fold_eyelike(const OnnxNode *n)
{
    if (!onnx_has_input(n, 0))
        return onnx_fail(n, "input 0 is missing"), NULL;
    const OnnxInput *in = &n->inputs[0];
    if (!in->value && !in->konst)
        return onnx_fail(n, "'%s' has no tensor type", in->name), NULL;
    const Type shape = in->value ? in->value->type : type_make(in->konst->rank, in->konst->dims);
    int64_t k, dtype;
    if (!onnx_get_int(n, "k", 0, &k) ||
        !onnx_get_int(n, "dtype", in->value ? ONNX_FLOAT : in->konst->elem_type, &dtype))
        return NULL;
    if (shape.rank != 2)
        return onnx_fail(n, "EyeLike needs a 2-D input, got rank %d", shape.rank), NULL;
    if (!onnx_elem_is_float((int)dtype) && !onnx_elem_is_integer((int)dtype))
        return onnx_fail(n, "EyeLike of dtype %s is not supported", onnx_elem_type_name((int)dtype)), NULL;
    OnnxConst *r = onnx_fold_result(n, (int)dtype, 2, shape.dims);
    for (int64_t i = 0; r && i < shape.dims[0]; i++)
        for (int64_t j = 0; j < shape.dims[1]; j++) {
            int64_t at = i * shape.dims[1] + j;
            if (r->i)
                onnx_fold_set_int(r, at, j - i == k);
            else
                onnx_fold_set_float(r, at, j - i == k ? 1.0f : 0.0f);
        }
    return r;
}

/* HannWindow, HammingWindow, BlackmanWindow of a known size: the cosine sums
 * a0 - a1 cos(2 pi k / M) + a2 cos(4 pi k / M), M the size (periodic) or the
 * size - 1 (symmetric), in double as ONNX's reference. */
static const OnnxConst *fold_window(const OnnxNode *n, const char *op_type)
{
    const OnnxConst *size = onnx_fold_int_input(n, 0, "size");
    int64_t periodic, dtype;
    if (!size || !one_value(n, size, 0) || !onnx_get_int(n, "periodic", 1, &periodic) ||
        !onnx_get_int(n, "output_datatype", ONNX_FLOAT, &dtype))
        return NULL;
    if (!onnx_elem_is_float((int)dtype) && !onnx_elem_is_integer((int)dtype))
        return onnx_fail(n, "output_datatype %s is not supported", onnx_elem_type_name((int)dtype)), NULL;
    int64_t count = size->i[0];
    if (count < 1)
        return onnx_fail(n, "size %lld is not supported (an empty window)", (long long)count), NULL;
    double a0 = 0.5, a1 = 0.5, a2 = 0.0;       /* Hann */
    if (strcmp(op_type, "HammingWindow") == 0)
        a0 = 25.0 / 46.0, a1 = 1.0 - a0;
    else if (strcmp(op_type, "BlackmanWindow") == 0)
        a0 = 0.42, a1 = 0.5, a2 = 0.08;
    const double pi = 3.14159265358979323846;
    double m = (double)(periodic ? count : count - 1);
    OnnxConst *r = onnx_fold_result(n, (int)dtype, 1, &count);
    for (int64_t k = 0; r && k < count; k++) {
        double phase = m > 0 ? 2.0 * pi * (double)k / m : 0.0;
        double v = a0 - a1 * cos(phase) + a2 * cos(2.0 * phase);
        if (r->i)
            onnx_fold_set_int(r, k, (int64_t)v);
        else
            onnx_fold_set_float(r, k, (float)v);
    }
    return r;
}

static const OnnxConst *fold_reshape(const OnnxNode *n)
{
    const OnnxConst *x = onnx_fold_known_input(n, 0);
    int64_t shape[2 * IR_MAX_RANK], allowzero;
    int count;
    if (!x || !onnx_has_input(n, 1))
        return x ? onnx_fail(n, "Reshape needs a shape input"), NULL : NULL;
    Type xt = type_make(x->rank, x->dims);
    if (!onnx_ints_input(n, 1, "Reshape shape", shape, &count) || !onnx_get_int(n, "allowzero", 0, &allowzero) ||
        !onnx_reshape_resolve(n, &xt, shape, count, allowzero != 0))
        return NULL;
    int64_t numel = 1;
    for (int i = 0; i < count; i++)
        numel *= shape[i];      /* each bounded by onnx_reshape_resolve */
    if (numel != x->numel)
        return onnx_fail(n, "cannot reshape %lld elements to %lld", (long long)x->numel, (long long)numel), NULL;
    return reshaped(n, x, count, shape);
}

static const OnnxConst *fold_squeeze(const OnnxNode *n, bool unsqueeze)
{
    const OnnxConst *x = onnx_fold_known_input(n, 0);
    int64_t axes[2 * IR_MAX_RANK], dims[IR_MAX_RANK];
    int count, rank = 0;
    bool given;
    if (!x || !onnx_read_axes(n, axes, &count, &given))
        return NULL;
    if (unsqueeze) {
        int out_rank = x->rank + count;
        bool inserted[2 * IR_MAX_RANK] = {false};
        if (!given || out_rank > IR_MAX_RANK)
            return onnx_fail(n, given ? "Unsqueeze to rank %d is not supported (at most %d)" : "Unsqueeze needs axes",
                             out_rank, IR_MAX_RANK), NULL;
        for (int i = 0; i < count; i++) {
            if (!onnx_normalize_axes(n, "axis", &axes[i], 1, out_rank))
                return NULL;
            if (inserted[axes[i]])
                return onnx_fail(n, "axis %lld is given twice", (long long)axes[i]), NULL;
            inserted[axes[i]] = true;
        }
        for (int i = 0, from = 0; i < out_rank; i++)
            dims[rank++] = inserted[i] ? 1 : x->dims[from++];
        return reshaped(n, x, rank, dims);
    }
    bool removed[IR_MAX_RANK] = {false};
    for (int i = 0; i < count; i++) {
        if (!onnx_normalize_axes(n, "axis", &axes[i], 1, x->rank))
            return NULL;
        if (x->dims[axes[i]] != 1)
            return onnx_fail(n, "cannot squeeze axis %lld of size %lld", (long long)axes[i],
                             (long long)x->dims[axes[i]]), NULL;
        removed[axes[i]] = true;
    }
    for (int i = 0; i < x->rank; i++)
        if (!(given ? removed[i] : x->dims[i] == 1))
            dims[rank++] = x->dims[i];
    return reshaped(n, x, rank, dims);
}

static const OnnxConst *fold_concat(const OnnxNode *n)
{
    int64_t axis;
    if (n->n_inputs < 1)
        return onnx_fail(n, "Concat needs an input"), NULL;
    if (!onnx_attr(n, "axis"))
        return onnx_fail(n, "missing attribute 'axis'"), NULL;
    const OnnxConst *first = onnx_fold_known_input(n, 0);
    if (!first || !onnx_get_int(n, "axis", 0, &axis) || !onnx_normalize_axes(n, "axis", &axis, 1, first->rank))
        return NULL;
    int64_t dims[IR_MAX_RANK];
    memcpy(dims, first->dims, sizeof dims);
    dims[axis] = 0;
    for (int i = 0; i < n->n_inputs; i++) {
        const OnnxConst *k = onnx_fold_known_input(n, i);
        if (!k)
            return NULL;
        bool same = k->elem_type == first->elem_type && k->rank == first->rank;
        for (int d = 0; same && d < k->rank; d++)
            same = d == axis || k->dims[d] == first->dims[d];
        if (!same)
            return onnx_fail(n, "input %d ('%s') does not match input 0 in element type, rank or the dimensions "
                             "besides axis %lld", i, n->inputs[i].name, (long long)axis), NULL;
        dims[axis] += k->dims[axis];    /* each at most 2^31, at most 2^31 inputs */
    }
    OnnxConst *r = onnx_fold_result(n, first->elem_type, first->rank, dims);
    if (!r)
        return NULL;
    int64_t outer = 1, at = 0;
    for (int d = 0; d < axis; d++)
        outer *= dims[d];
    for (int64_t o = 0; o < outer; o++)
        for (int i = 0; i < n->n_inputs; i++) {
            const OnnxConst *k = n->inputs[i].konst;
            int64_t block = outer ? k->numel / outer : 0;
            for (int64_t j = 0; j < block; j++)
                onnx_fold_copy(r, at++, k, o * block + j);
        }
    return r;
}

/* Transpose of known data (perm absent: the axes reversed).  Only integer and
 * boolean data fold here (torch's export of F.pad reverses its pads through a
 * Transpose); a float Transpose stays an IR op, folded by fold-constants. */
static const OnnxConst *fold_transpose(const OnnxNode *n)
{
    const OnnxConst *x = onnx_fold_known_input(n, 0);
    int64_t perm[2 * IR_MAX_RANK], dims[IR_MAX_RANK], stride[IR_MAX_RANK], index[IR_MAX_RANK] = {0};
    int count;
    bool seen[IR_MAX_RANK] = {false};
    if (!x || !onnx_get_ints(n, "perm", -1, 0, perm, &count))
        return NULL;
    if (!onnx_attr(n, "perm"))
        for (int d = count = x->rank; d-- > 0;)
            perm[x->rank - 1 - d] = d;
    if (count != x->rank)
        return onnx_fail(n, "perm has %d entries for a rank-%d input", count, x->rank), NULL;
    for (int d = 0; d < count; d++) {
        if (perm[d] < 0 || perm[d] >= count || seen[perm[d]])
            return onnx_fail(n, "perm is not a permutation of the %d axes", count), NULL;
        seen[perm[d]] = true;
    }
    for (int d = x->rank - 1; d >= 0; d--)
        stride[d] = d == x->rank - 1 ? 1 : stride[d + 1] * x->dims[d + 1];
    for (int d = 0; d < count; d++)
        dims[d] = x->dims[perm[d]];
    OnnxConst *r = onnx_fold_result(n, x->elem_type, count, dims);
    for (int64_t j = 0; r && j < r->numel; j++) {
        int64_t from = 0;
        for (int d = 0; d < count; d++)
            from += index[d] * stride[perm[d]];
        onnx_fold_copy(r, j, x, from);
        for (int d = count - 1; d >= 0 && ++index[d] == dims[d]; d--)
            index[d] = 0;
    }
    return r;
}

/* ---- element types ---- */

/* x as element type `to` (Cast): floats truncate toward zero into integers
 * (saturating at int64's range, then wrapping to the type's width, NaN to 0),
 * anything but 0 is true, float16 rounds to nearest-even. */
static const OnnxConst *cast_to(const OnnxNode *n, const OnnxConst *x, int to)
{
    if (!onnx_elem_is_float(to) && !onnx_elem_is_integer(to))
        return onnx_fail(n, "Cast to %s is not supported", onnx_elem_type_name(to)), NULL;
    OnnxConst *r = onnx_fold_result(n, to, x->rank, x->dims);
    for (int64_t j = 0; r && j < x->numel; j++) {
        if (onnx_elem_is_float(to))
            onnx_fold_set_float(r, j, x->i ? (float)x->i[j] : x->f[j]);
        else if (x->i)
            onnx_fold_set_int(r, j, x->i[j]);
        else if (to == ONNX_BOOL)
            onnx_fold_set_int(r, j, x->f[j] != 0);
        else {
            float v = truncf(x->f[j]);
            onnx_fold_set_int(r, j, isnan(v) ? 0 : v >= 0x1p63f ? INT64_MAX : v < -0x1p63f ? INT64_MIN : (int64_t)v);
        }
    }
    return r;
}

/* Cast's `to`, or CastLike's target (input 1: its element type). */
bool onnx_fold_cast_target(const OnnxNode *n, bool like, int *to)
{
    if (like) {
        if (!onnx_has_input(n, 1))
            return onnx_fail(n, "CastLike needs a target_type input"), false;
        *to = n->inputs[1].konst ? n->inputs[1].konst->elem_type : ONNX_FLOAT;
        return true;
    }
    int64_t t;
    if (!onnx_attr(n, "to"))
        return onnx_fail(n, "missing attribute 'to'"), false;
    if (!onnx_get_int(n, "to", 0, &t))
        return false;
    *to = t < 0 || t > 64 ? 0 : (int)t;
    return true;
}

static const OnnxConst *fold_cast(const OnnxNode *n, bool like)
{
    const OnnxConst *x = onnx_fold_known_input(n, 0);
    int to;
    return x && onnx_fold_cast_target(n, like, &to) ? cast_to(n, x, to) : NULL;
}

/* ---- made from nothing ---- */

static const OnnxConst *fold_constant_of_shape(const OnnxNode *n)
{
    const OnnxConst *shape = onnx_fold_int_input(n, 0, "ConstantOfShape shape");
    const OnnxAttr *value = onnx_attr(n, "value");
    if (!shape)
        return NULL;
    if (shape->rank != 1 || shape->numel > IR_MAX_RANK)
        return onnx_fail(n, "ConstantOfShape's shape must be a 1-D tensor of at most %d values", IR_MAX_RANK), NULL;
    if (value && (value->kind != OA_TENSOR || value->t->numel != 1 || !value->t->f))
        return onnx_fail(n, "attribute 'value' must be a tensor of one number"), NULL;
    OnnxConst *r = onnx_fold_result(n, value ? value->t->elem_type : ONNX_FLOAT, (int)shape->numel, shape->i);
    for (int64_t j = 0; r && j < r->numel; j++)
        onnx_fold_copy(r, j, value ? value->t : r, 0);       /* without a value: the zeros allocated */
    return r;
}

static const OnnxConst *fold_range(const OnnxNode *n)
{
    const OnnxConst *start = onnx_fold_known_input(n, 0), *limit = onnx_fold_known_input(n, 1);
    const OnnxConst *delta = onnx_fold_known_input(n, 2);
    if (!start || !limit || !delta || !one_value(n, start, 0) || !one_value(n, limit, 1) || !one_value(n, delta, 2))
        return NULL;
    bool ints = start->i != NULL;
    if ((limit->i != NULL) != ints || (delta->i != NULL) != ints)
        return onnx_fail(n, "Range's start, limit and delta must be of one type (all integers or all floats)"), NULL;
    double span = ints ? (double)limit->i[0] - (double)start->i[0] : (double)limit->f[0] - (double)start->f[0];
    double step = ints ? (double)delta->i[0] : (double)delta->f[0];
    if (step == 0 || isnan(span) || isnan(step))
        return onnx_fail(n, "Range needs a non-zero delta and numbers as bounds"), NULL;
    double count = ceil(span / step);
    count = count < 0 ? 0 : count;
    if (count > (double)IR_MAX_NUMEL)
        return onnx_fail(n, "Range gives more than %lld elements", (long long)IR_MAX_NUMEL), NULL;
    int64_t dims[1] = {(int64_t)count};
    OnnxConst *r = onnx_fold_result(n, start->elem_type, 1, dims);
    for (int64_t j = 0; r && j < dims[0]; j++) {
        int64_t v;
        if (ints && !(i64_mul(j, delta->i[0], &v) && i64_add(v, start->i[0], &v)))
            return onnx_fail(n, "Range overflows int64"), NULL;
        if (ints)
            onnx_fold_set_int(r, j, v);
        else
            onnx_fold_set_float(r, j, start->f[0] + (float)j * delta->f[0]);
    }
    return r;
}

/* ---- elementwise, with broadcasting ---- */

typedef enum {
    E_ADD, E_SUB, E_MUL, E_DIV, E_EQUAL, E_LESS, E_GREATER, E_NOT, E_AND, E_OR, E_WHERE, E_EXPAND, E_NEG, E_MOD
} Elementwise;

static const struct {
    const char *op_type;
    Elementwise kind;
    int arity;
} elementwise_ops[] = {
    {"Add", E_ADD, 2}, {"Sub", E_SUB, 2}, {"Mul", E_MUL, 2}, {"Div", E_DIV, 2}, {"Equal", E_EQUAL, 2},
    {"Less", E_LESS, 2}, {"Greater", E_GREATER, 2}, {"Not", E_NOT, 1}, {"And", E_AND, 2}, {"Or", E_OR, 2},
    {"Where", E_WHERE, 3}, {"Expand", E_EXPAND, 2}, {"Neg", E_NEG, 1}, {"Mod", E_MOD, 2},
};

/* ONNX's Mod of integers: the sign of the divisor's (Python's %), or of the
 * dividend's with fmod = 1 (C's %); false on a zero divisor.  torch's
 * exports compute padding this way from shapes (Swin's windows). */
static bool int_mod(int64_t a, int64_t b, bool fmod, int64_t *out)
{
    if (b == 0)
        return false;
    int64_t r = b == -1 ? 0 : a % b;
    if (!fmod && r != 0 && (r < 0) != (b < 0))
        r += b;
    *out = r;
    return true;
}

/* Integer arithmetic, exact: false when the result does not fit int64 (or
 * a division by zero). */
static bool int_arith(Elementwise kind, int64_t a, int64_t b, int64_t *out)
{
    switch (kind) {
    case E_ADD: return i64_add(a, b, out);
    case E_SUB: return !__builtin_sub_overflow(a, b, out);
    case E_MUL: return i64_mul(a, b, out);
    default:
        if (b == 0 || (a == INT64_MIN && b == -1))
            return false;
        *out = a / b;           /* truncating, as ONNX's integer Div */
        return true;
    }
}

static float float_arith(Elementwise kind, float a, float b)
{
    return kind == E_ADD ? a + b : kind == E_SUB ? a - b : kind == E_MUL ? a * b : a / b;
}

/* The value of element j of k as a number, for comparisons. */
static double number(const OnnxConst *k, int64_t j)
{
    return k->i ? (double)k->i[j] : (double)k->f[j];
}

static const OnnxConst *fold_elementwise(const OnnxNode *n, Elementwise kind, int arity)
{
    const OnnxConst *in[3] = {NULL, NULL, NULL};
    int rank = 0;
    int64_t dims[IR_MAX_RANK];
    if (n->n_inputs != arity)
        return onnx_fail(n, "%s takes %d inputs, it has %d", n->loc.node_op, arity, n->n_inputs), NULL;
    for (int i = 0; i < arity; i++)
        if (!(in[i] = onnx_fold_known_input(n, i)))
            return NULL;
    if (kind == E_EXPAND) {     /* input 1 is the shape to broadcast to */
        int64_t shape[2 * IR_MAX_RANK];
        int count;
        if (!onnx_ints_input(n, 1, "Expand shape", shape, &count))
            return NULL;
        if (count > IR_MAX_RANK)
            return onnx_fail(n, "Expand to rank %d is not supported (at most %d)", count, IR_MAX_RANK), NULL;
        if (!onnx_fold_broadcast(n, in[0]->rank, in[0]->dims, count, shape, &rank, dims))
            return NULL;
    } else {
        memcpy(dims, in[0]->dims, sizeof dims);
        rank = in[0]->rank;
        for (int i = 1; i < arity; i++)
            if (!onnx_fold_broadcast(n, rank, dims, in[i]->rank, in[i]->dims, &rank, dims))
                return NULL;
    }
    const OnnxConst *a = in[kind == E_WHERE ? 1 : 0], *b = in[kind == E_WHERE ? 2 : 1];
    bool logical = kind == E_NOT || kind == E_AND || kind == E_OR, compare = kind >= E_EQUAL && kind <= E_GREATER;
    for (int i = 0; i < arity; i++)
        if (logical && in[i]->elem_type != ONNX_BOOL)
            return onnx_fail(n, "%s needs bool inputs, '%s' is %s", n->loc.node_op, n->inputs[i].name,
                             onnx_elem_type_name(in[i]->elem_type)), NULL;
    if (kind != E_NOT && kind != E_EXPAND && kind != E_NEG && a->elem_type != b->elem_type)
        return onnx_fail(n, "'%s' is %s but '%s' is %s", n->inputs[kind == E_WHERE ? 1 : 0].name,
                         onnx_elem_type_name(a->elem_type), n->inputs[kind == E_WHERE ? 2 : 1].name,
                         onnx_elem_type_name(b->elem_type)), NULL;
    int64_t fmod = 0;
    if (kind == E_MOD && !onnx_get_int(n, "fmod", 0, &fmod))
        return NULL;
    if (kind == E_MOD && !fmod && !a->i)
        return onnx_fail(n, "Mod of floats needs fmod = 1 (ONNX)"), NULL;
    int type = logical || compare ? ONNX_BOOL : a->elem_type;
    if (!logical && !compare && kind != E_WHERE && kind != E_EXPAND && type == ONNX_BOOL)
        return onnx_fail(n, "%s on bool is not supported", n->loc.node_op), NULL;
    OnnxConst *r = onnx_fold_result(n, type, rank, dims);
    for (int64_t j = 0; r && j < r->numel; j++) {
        bool unary = kind == E_NOT || kind == E_EXPAND || kind == E_NEG;
        int64_t ja = broadcast_source(a, rank, dims, j), jb = unary ? 0 :
                                                                broadcast_source(b, rank, dims, j);
        int64_t v;
        switch (kind) {
        case E_EXPAND: onnx_fold_copy(r, j, a, ja); break;
        case E_WHERE: {
            const OnnxConst *c = in[0];
            bool yes = (c->i ? c->i[broadcast_source(c, rank, dims, j)] : c->f[broadcast_source(c, rank, dims, j)]) != 0;
            onnx_fold_copy(r, j, yes ? a : b, yes ? ja : jb);
            break;
        }
        case E_EQUAL: onnx_fold_set_int(r, j, number(a, ja) == number(b, jb)); break;
        case E_LESS: onnx_fold_set_int(r, j, number(a, ja) < number(b, jb)); break;
        case E_GREATER: onnx_fold_set_int(r, j, number(a, ja) > number(b, jb)); break;
        case E_NOT: onnx_fold_set_int(r, j, !a->i[ja]); break;
        case E_AND: onnx_fold_set_int(r, j, a->i[ja] && b->i[jb]); break;
        case E_OR: onnx_fold_set_int(r, j, a->i[ja] || b->i[jb]); break;
        case E_NEG:             /* integers only (onnx_fold_applies) */
            if (a->i[ja] == INT64_MIN)
                return onnx_fail(n, "Neg of %lld overflows int64", (long long)a->i[ja]), NULL;
            onnx_fold_set_int(r, j, -a->i[ja]);
            break;
        case E_MOD:
            if (!r->i)
                onnx_fold_set_float(r, j, fmodf(a->f[ja], b->f[jb]));
            else if (int_mod(a->i[ja], b->i[jb], fmod != 0, &v))
                onnx_fold_set_int(r, j, v);
            else
                return onnx_fail(n, "Mod of %lld by zero", (long long)a->i[ja]), NULL;
            break;
        default:
            if (!r->i) {
                onnx_fold_set_float(r, j, float_arith(kind, a->f[ja], b->f[jb]));
            } else if (int_arith(kind, a->i[ja], b->i[jb], &v)) {
                onnx_fold_set_int(r, j, v);
            } else {
                return onnx_fail(n, "%s of %lld and %lld %s", n->loc.node_op, (long long)a->i[ja],
                                 (long long)b->i[jb], kind == E_DIV ? "divides by zero or overflows" : "overflows int64"),
                       NULL;
            }
        }
    }
    return r;
}

static int find_elementwise(const char *op_type)
{
    for (int i = 0; i < (int)(sizeof elementwise_ops / sizeof elementwise_ops[0]); i++)
        if (strcmp(elementwise_ops[i].op_type, op_type) == 0)
            return i;
    return -1;
}

/* ---- the folding operators ---- */

static bool all_known(const OnnxNode *n)
{
    for (int i = 0; i < n->n_inputs; i++)
        if (onnx_has_input(n, i) && !known(n, i))
            return false;
    return true;
}

static bool is(const char *op_type, const char *name)
{
    return strcmp(op_type, name) == 0;
}

bool onnx_fold_applies(const OnnxNode *n, const char *op_type)
{
    if (is(op_type, "Shape") || is(op_type, "Size") || is(op_type, "EyeLike"))
        return true;            /* only the (static) shape is read */
    if (is(op_type, "HannWindow") || is(op_type, "HammingWindow") || is(op_type, "BlackmanWindow"))
        return true;            /* the size must be known: reported there if not */
    if (is(op_type, "CastLike"))
        return known(n, 0);     /* input 1 gives only its element type */
    bool arithmetic = is(op_type, "Add") || is(op_type, "Sub") || is(op_type, "Mul") || is(op_type, "Div");
    if (arithmetic && n->opset < 7)
        return false;           /* the legacy broadcast attributes: onnx_legacy.c */
    bool folds = arithmetic || find_elementwise(op_type) >= 0 || is(op_type, "Gather") || is(op_type, "Slice") ||
                 is(op_type, "Concat") || is(op_type, "Cast") || is(op_type, "ConstantOfShape") ||
                 is(op_type, "Range") || is(op_type, "Reshape") || is(op_type, "Squeeze") ||
                 is(op_type, "Unsqueeze") || is(op_type, "Identity") || is(op_type, "ScatterND") ||
                 is(op_type, "ScatterElements") || is(op_type, "Scatter");
    if (is(op_type, "Transpose") || is(op_type, "Neg"))  /* float ones stay ops, for fold-constants */
        return known(n, 0) && onnx_elem_is_integer(n->inputs[0].konst->elem_type);
    return folds && n->n_inputs > 0 && all_known(n);
}

const OnnxConst *onnx_fold_node(const OnnxNode *n, const char *op_type)
{
    int e = find_elementwise(op_type);
    if (e >= 0)
        return fold_elementwise(n, elementwise_ops[e].kind, elementwise_ops[e].arity);
    if (is(op_type, "Shape") || is(op_type, "Size"))
        return fold_shape(n, is(op_type, "Size"));
    if (is(op_type, "EyeLike"))
        return fold_eyelike(n);
    if (is(op_type, "HannWindow") || is(op_type, "HammingWindow") || is(op_type, "BlackmanWindow"))
        return fold_window(n, op_type);
    if (is(op_type, "Gather"))
        return onnx_fold_gather(n);
    if (is(op_type, "ScatterND"))
        return onnx_fold_scatter_nd(n);
    if (is(op_type, "ScatterElements") || is(op_type, "Scatter"))
        return onnx_fold_scatter_elements(n);
    if (is(op_type, "Slice"))
        return onnx_fold_slice(n);
    if (is(op_type, "Concat"))
        return fold_concat(n);
    if (is(op_type, "Cast") || is(op_type, "CastLike"))
        return fold_cast(n, is(op_type, "CastLike"));
    if (is(op_type, "ConstantOfShape"))
        return fold_constant_of_shape(n);
    if (is(op_type, "Range"))
        return fold_range(n);
    if (is(op_type, "Reshape"))
        return fold_reshape(n);
    if (is(op_type, "Squeeze") || is(op_type, "Unsqueeze"))
        return fold_squeeze(n, is(op_type, "Unsqueeze"));
    if (is(op_type, "Identity"))
        return onnx_fold_known_input(n, 0);
    if (is(op_type, "Transpose"))
        return fold_transpose(n);
    return onnx_fail(n, "%s is not computed at import", op_type), NULL;
}
