/* onnx_fold_index.c: Gather, Slice, ScatterND and ScatterElements of known
 * data (onnx_fold.c's folding operators that index).
 *
 * ScatterND folds where torch writes into a tensor it built from shapes:
 * torchvision's Swin Transformer builds each shifted window's attention mask
 * as `mask[h0:h1, w0:w1] = count` on a new_zeros tensor, which exports as
 * ConstantOfShape -> ScatterND (45 of them in swin_t); a tensor's
 * `x.scatter_(axis, index, src)` exports as ScatterElements.  Indices may be
 * negative (counted from the end, as Gather's); duplicate indices apply in
 * order, the last one winning without a reduction. */
#include "frontend/onnx_fold.h"

#include <math.h>
#include <string.h>

/* Gather along `axis`; indices may be negative (counted from the end). */
const OnnxConst *onnx_fold_gather(const OnnxNode *n)
{
    const OnnxConst *x = onnx_fold_known_input(n, 0), *ind = x ? onnx_fold_int_input(n, 1, "Gather indices") : NULL;
    int64_t axis, dims[IR_MAX_RANK];
    if (!ind || !onnx_get_int(n, "axis", 0, &axis) || !onnx_normalize_axes(n, "axis", &axis, 1, x->rank))
        return NULL;
    int rank = x->rank - 1 + ind->rank;
    if (rank > IR_MAX_RANK)
        return onnx_fail(n, "Gather to rank %d is not supported (at most %d)", rank, IR_MAX_RANK), NULL;
    int64_t outer = 1, inner = 1, extent = x->dims[axis];
    for (int d = 0; d < axis; d++)
        outer *= (dims[d] = x->dims[d]);
    for (int d = 0; d < ind->rank; d++)
        dims[axis + d] = ind->dims[d];
    for (int d = (int)axis + 1; d < x->rank; d++)
        inner *= (dims[d - 1 + ind->rank] = x->dims[d]);
    for (int64_t j = 0; j < ind->numel; j++)
        if (ind->i[j] < -extent || ind->i[j] >= extent)
            return onnx_fail(n, "index %lld is out of range for axis %lld of size %lld", (long long)ind->i[j],
                             (long long)axis, (long long)extent), NULL;
    OnnxConst *r = onnx_fold_result(n, x->elem_type, rank, dims);
    int64_t at = 0;
    for (int64_t o = 0; r && o < outer; o++)
        for (int64_t j = 0; j < ind->numel; j++) {
            int64_t index = ind->i[j] < 0 ? ind->i[j] + extent : ind->i[j];
            for (int64_t e = 0; e < inner; e++)
                onnx_fold_copy(r, at++, x, (o * extent + index) * inner + e);
        }
    return r;
}

/* Slice's parameters for every axis of a `rank`-D input of `dims`: the first
 * index, the step and the count taken (ONNX's clamping of starts and ends).
 * starts, ends (inputs since opset 10, attributes before), axes, steps. */
bool onnx_fold_slice_params(const OnnxNode *n, int rank, const int64_t *dims, int64_t *first, int64_t *step,
                            int64_t *count)
{
    int64_t starts[2 * IR_MAX_RANK], ends[2 * IR_MAX_RANK], axes[2 * IR_MAX_RANK], steps[2 * IR_MAX_RANK];
    int n_starts, n_ends, n_axes = -1, n_steps = -1;
    if (n->opset < 10) {
        const OnnxAttr *s = onnx_attr(n, "starts"), *e = onnx_attr(n, "ends"), *a = onnx_attr(n, "axes");
        if (!s || !e || s->kind != OA_INTS || e->kind != OA_INTS || (a && a->kind != OA_INTS))
            return onnx_fail(n, "Slice needs the int lists 'starts' and 'ends'"), false;
        if (s->count > 2 * IR_MAX_RANK || e->count > 2 * IR_MAX_RANK || (a && a->count > 2 * IR_MAX_RANK))
            return onnx_fail(n, "Slice has too many axes"), false;
        n_starts = s->count, n_ends = e->count;
        memcpy(starts, s->ints, (size_t)n_starts * sizeof *starts);
        memcpy(ends, e->ints, (size_t)n_ends * sizeof *ends);
        if (a) {
            n_axes = a->count;
            memcpy(axes, a->ints, (size_t)n_axes * sizeof *axes);
        }
    } else if (!onnx_has_input(n, 1) || !onnx_has_input(n, 2)) {
        return onnx_fail(n, "Slice needs starts and ends"), false;
    } else if (!onnx_ints_input(n, 1, "Slice starts", starts, &n_starts) ||
               !onnx_ints_input(n, 2, "Slice ends", ends, &n_ends) ||
               (onnx_has_input(n, 3) && !onnx_ints_input(n, 3, "Slice axes", axes, &n_axes)) ||
               (onnx_has_input(n, 4) && !onnx_ints_input(n, 4, "Slice steps", steps, &n_steps))) {
        return false;
    }
    if (n_ends != n_starts || (n_axes >= 0 && n_axes != n_starts) || (n_steps >= 0 && n_steps != n_starts) ||
        n_starts > rank)
        return onnx_fail(n, "Slice's starts, ends, axes and steps must have one value per sliced axis"), false;
    for (int d = 0; d < rank; d++)
        first[d] = 0, step[d] = 1, count[d] = dims[d];
    bool seen[IR_MAX_RANK] = {false};
    for (int i = 0; i < n_starts; i++) {
        int64_t axis = n_axes >= 0 ? axes[i] : i, s = n_steps >= 0 ? steps[i] : 1, dim;
        if (!onnx_normalize_axes(n, "axis", &axis, 1, rank))
            return false;
        if (seen[axis])
            return onnx_fail(n, "Slice axis %lld is given twice", (long long)axis), false;
        if (s == 0)
            return onnx_fail(n, "Slice step 0 on axis %lld", (long long)axis), false;
        seen[axis] = true;
        dim = dims[axis];
        /* A step longer than the axis takes one element at most: bounded so that no sum overflows. */
        s = s > dim ? dim + 1 : s < -dim ? -dim - 1 : s;
        int64_t b = starts[i] < 0 ? (starts[i] < -dim ? -1 : starts[i] + dim) : starts[i];
        int64_t e = ends[i] < 0 ? (ends[i] < -dim ? -1 : ends[i] + dim) : ends[i];
        if (s > 0) {
            b = b < 0 ? 0 : b > dim ? dim : b;
            e = e < 0 ? 0 : e > dim ? dim : e;
            count[axis] = e > b ? (e - b + s - 1) / s : 0;
        } else {
            b = b < 0 ? 0 : b > dim - 1 ? dim - 1 : b;
            e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
            count[axis] = b > e ? (b - e - s - 1) / -s : 0;
        }
        first[axis] = b;
        step[axis] = s;
    }
    return true;
}

const OnnxConst *onnx_fold_slice(const OnnxNode *n)
{
    const OnnxConst *x = onnx_fold_known_input(n, 0);
    int64_t first[IR_MAX_RANK], step[IR_MAX_RANK], count[IR_MAX_RANK];
    if (!x || !onnx_fold_slice_params(n, x->rank, x->dims, first, step, count))
        return NULL;
    OnnxConst *r = onnx_fold_result(n, x->elem_type, x->rank, count);
    for (int64_t j = 0; r && j < r->numel; j++) {
        int64_t rest = j, source = 0, stride = 1;
        for (int d = x->rank - 1; d >= 0; d--) {
            source += (first[d] + (rest % count[d]) * step[d]) * stride;
            rest /= count[d];
            stride *= x->dims[d];
        }
        onnx_fold_copy(r, j, x, source);
    }
    return r;
}

bool onnx_scatter_reduction(const OnnxNode *n, ScatterReduction *out)
{
    const char *s;
    if (!onnx_get_string(n, "reduction", "none", &s))
        return false;
    if (!scatter_reduction_from_name(s, out))
        return onnx_fail(n, "reduction must be none, add, mul, max or min, not '%s'", s), false;
    return true;
}

/* Element at of r combined with element j of u by the reduction. */
static void scatter_one(OnnxConst *r, int64_t at, const OnnxConst *u, int64_t j, ScatterReduction reduction)
{
    if (reduction == SCATTER_NONE) {
        onnx_fold_copy(r, at, u, j);
    } else if (r->i) {          /* exact in int64, then wrapped to the element type */
        int64_t a = r->i[at], b = u->i[j];
        int64_t v = reduction == SCATTER_ADD   ? (int64_t)((uint64_t)a + (uint64_t)b)
                    : reduction == SCATTER_MUL ? (int64_t)((uint64_t)a * (uint64_t)b)
                    : reduction == SCATTER_MAX ? (a > b ? a : b)
                                               : (a < b ? a : b);
        onnx_fold_set_int(r, at, v);
    } else {
        float a = r->f[at], b = u->f[j];
        float v = reduction == SCATTER_ADD   ? a + b
                  : reduction == SCATTER_MUL ? a * b
                  : reduction == SCATTER_MAX ? fmaxf(a, b)
                                             : fminf(a, b);
        onnx_fold_set_float(r, at, v);
    }
}

/* ScatterND (opsets 11, 13, 16, 18): data of rank r, indices of rank q
 * whose last dimension k (1..r) addresses slices of data, updates of dims
 * indices.dims[0 .. q-1) then data.dims[k .. r). */
const OnnxConst *onnx_fold_scatter_nd(const OnnxNode *n)
{
    const OnnxConst *data = onnx_fold_known_input(n, 0);
    const OnnxConst *ind = data ? onnx_fold_int_input(n, 1, "ScatterND indices") : NULL;
    const OnnxConst *upd = ind ? onnx_fold_known_input(n, 2) : NULL;
    ScatterReduction reduction;
    if (!upd || !onnx_scatter_reduction(n, &reduction))
        return NULL;
    if (data->rank < 1 || ind->rank < 1)
        return onnx_fail(n, "data and indices must have rank 1 or more (they have %d and %d)", data->rank,
                         ind->rank), NULL;
    int64_t k = ind->dims[ind->rank - 1];
    if (k < 1 || k > data->rank)
        return onnx_fail(n, "the last dimension of indices, %lld, must be in 1..%d (the rank of data)", (long long)k,
                         data->rank), NULL;
    if (upd->elem_type != data->elem_type)
        return onnx_fail(n, "updates are %s, data %s: they must be of one type", onnx_elem_type_name(upd->elem_type),
                         onnx_elem_type_name(data->elem_type)), NULL;
    int want_rank = ind->rank - 1 + data->rank - (int)k;
    bool same = upd->rank == want_rank;
    for (int d = 0; same && d < ind->rank - 1; d++)
        same = upd->dims[d] == ind->dims[d];
    for (int d = (int)k; same && d < data->rank; d++)
        same = upd->dims[ind->rank - 1 + d - k] == data->dims[d];
    if (!same)
        return onnx_fail(n, "updates must have the dims of indices but its last, then those of data from axis "
                            "%lld on", (long long)k), NULL;
    int64_t slice = 1;          /* elements a tuple of indices addresses */
    for (int d = (int)k; d < data->rank; d++)
        slice *= data->dims[d];
    int64_t tuples = slice > 0 ? upd->numel / slice : 0;
    OnnxConst *r = onnx_fold_result(n, data->elem_type, data->rank, data->dims);
    for (int64_t j = 0; r && j < data->numel; j++)
        onnx_fold_copy(r, j, data, j);
    for (int64_t t = 0; r && t < tuples; t++) {
        int64_t at = 0;
        for (int d = 0; d < k; d++) {
            int64_t extent = data->dims[d], index = ind->i[t * k + d];
            if (index < -extent || index >= extent)
                return onnx_fail(n, "index %lld is out of range for axis %d of size %lld", (long long)index, d,
                                 (long long)extent), NULL;
            at = at * extent + (index < 0 ? index + extent : index);
        }
        for (int64_t e = 0; e < slice; e++)
            scatter_one(r, at * slice + e, upd, t * slice + e, reduction);
    }
    return r;
}

/* ScatterElements (and Scatter, its name before opset 11): updates[p] goes
 * to data's element p with its `axis` coordinate replaced by indices[p];
 * indices and updates have one shape, of data's rank, within data's dims. */
const OnnxConst *onnx_fold_scatter_elements(const OnnxNode *n)
{
    const OnnxConst *data = onnx_fold_known_input(n, 0);
    const OnnxConst *ind = data ? onnx_fold_int_input(n, 1, "ScatterElements indices") : NULL;
    const OnnxConst *upd = ind ? onnx_fold_known_input(n, 2) : NULL;
    ScatterReduction reduction;
    int64_t axis;
    if (!upd || !onnx_scatter_reduction(n, &reduction) || !onnx_get_int(n, "axis", 0, &axis) ||
        !onnx_normalize_axes(n, "axis", &axis, 1, data->rank))
        return NULL;
    if (upd->elem_type != data->elem_type)
        return onnx_fail(n, "updates are %s, data %s: they must be of one type", onnx_elem_type_name(upd->elem_type),
                         onnx_elem_type_name(data->elem_type)), NULL;
    bool fits = ind->rank == data->rank && upd->rank == data->rank;
    for (int d = 0; fits && d < data->rank; d++)
        fits = ind->dims[d] == upd->dims[d] && ind->dims[d] <= data->dims[d];
    if (!fits)
        return onnx_fail(n, "indices and updates must have one shape, of data's rank and within its dims"), NULL;
    OnnxConst *r = onnx_fold_result(n, data->elem_type, data->rank, data->dims);
    for (int64_t j = 0; r && j < data->numel; j++)
        onnx_fold_copy(r, j, data, j);
    for (int64_t p = 0; r && p < ind->numel; p++) {
        int64_t rest = p, at = 0, stride = 1;
        for (int d = data->rank - 1; d >= 0; d--) {   /* p's coordinates in indices, axis replaced */
            int64_t c = rest % ind->dims[d], extent = data->dims[d];
            rest /= ind->dims[d];
            if (d == axis) {
                c = ind->i[p];
                if (c < -extent || c >= extent)
                    return onnx_fail(n, "index %lld is out of range for axis %lld of size %lld", (long long)c,
                                     (long long)axis, (long long)extent), NULL;
                c = c < 0 ? c + extent : c;
            }
            at += c * stride;
            stride *= extent;
        }
        scatter_one(r, at, upd, p, reduction);
    }
    return r;
}
