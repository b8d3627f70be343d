/* infer_layout.c: result types of the resampling and data-movement ops of
 * ops.def (convtranspose, dilate, resize, slice, tile) and pad's modes;
 * ir_infer_type() dispatches here and checks the result's size.  Messages as
 * infer.c's: "OPNAME: what is wrong" at op->loc.  Every parameter is bounded
 * by IR_MAX_NUMEL before it takes part in arithmetic, so no sum or product
 * below can overflow int64. */
#include "ir.h"

#include <math.h>
#include <string.h>

static const char *fmt_type(Diags *diags, const Type *t)
{
    return type_format(diags->arena, t);
}

/* An ints attribute of exactly `count` values within [lo, hi], or dflt
 * repeated when absent and not required. */
static bool ints_in(const Op *op, Diags *diags, const char *name, int count, bool required, int64_t dflt,
                    int64_t lo, int64_t hi, int64_t *out)
{
    const int64_t *v;
    int n = ir_attr_ints(op, name, &v);
    if (n < 0) {
        if (ir_attr(op, name) || required)
            return ir_op_error(op, diags, "attribute '%s' must be a list of %d ints", name, count);
        for (int i = 0; i < count; i++)
            out[i] = dflt;
        return true;
    }
    if (n != count)
        return ir_op_error(op, diags, "attribute '%s' has %d values, expected %d", name, n, count);
    for (int i = 0; i < count; i++) {
        if (v[i] < lo || v[i] > hi)
            return ir_op_error(op, diags, "%s[%d] = %lld is out of range [%lld, %lld]", name, i, (long long)v[i],
                        (long long)lo, (long long)hi);
        out[i] = v[i];
    }
    return true;
}

/* Whether string attribute `name` (absent: dflt) is one of `allowed` (NULL-terminated). */
static bool string_in(const Op *op, Diags *diags, const char *name, const char *dflt, const char *const *allowed)
{
    const Attr *a = ir_attr(op, name);
    if (a && a->kind != ATTR_STRING)
        return ir_op_error(op, diags, "attribute '%s' must be a string", name);
    const char *s = a ? a->s : dflt;
    for (int i = 0; allowed[i]; i++)
        if (strcmp(s, allowed[i]) == 0)
            return true;
    return ir_op_error(op, diags, "%s \"%s\" is not one of the supported values", name, s);
}

static bool spatial_input(const Op *op, Diags *diags, const Type *x)
{
    if (x->rank < 3 || x->rank > 5)
        return ir_op_error(op, diags, "input %s must be N x C x D1 [x D2 [x D3]]", fmt_type(diags, x));
    return true;
}

static bool infer_convtranspose(const Op *op, Type *out, Diags *diags)
{
    const Type *x = &op->inputs[0]->type, *w = &op->inputs[1]->type;
    if (!spatial_input(op, diags, x))
        return false;
    if (w->rank != x->rank)
        return ir_op_error(op, diags, "weight %s must have the rank of the input %s", fmt_type(diags, w), fmt_type(diags, x));
    int sp = x->rank - 2;
    int64_t group, strides[IR_MAX_RANK], dilations[IR_MAX_RANK], pads[2 * IR_MAX_RANK], outpad[IR_MAX_RANK];
    group = ir_attr_int(op, "group", 1);
    if (group < 1 || group > IR_MAX_NUMEL)
        return ir_op_error(op, diags, "group must be 1 to %lld (got %lld)", (long long)IR_MAX_NUMEL, (long long)group);
    if (x->dims[1] != w->dims[0] || x->dims[1] % group != 0)
        return ir_op_error(op, diags, "input %s has %lld channels; weight %s must have as many rows, a multiple of group %lld",
                    fmt_type(diags, x), (long long)x->dims[1], fmt_type(diags, w), (long long)group);
    int64_t m = w->dims[1] * group;     /* both at most 2^32: no overflow */
    if (op->n_inputs == 3) {
        const Type *b = &op->inputs[2]->type;
        if (b->rank != 1 || b->dims[0] != m)
            return ir_op_error(op, diags, "bias %s must be f32[%lld]", fmt_type(diags, b), (long long)m);
    }
    if (!ints_in(op, diags, "strides", sp, false, 1, 1, IR_MAX_NUMEL, strides) ||
        !ints_in(op, diags, "dilations", sp, false, 1, 1, IR_MAX_NUMEL, dilations) ||
        !ints_in(op, diags, "pads", 2 * sp, false, 0, 0, IR_MAX_NUMEL, pads) ||
        !ints_in(op, diags, "output_padding", sp, false, 0, 0, IR_MAX_NUMEL, outpad))
        return false;
    *out = *x;
    out->dims[1] = m;
    for (int i = 0; i < sp; i++) {
        int64_t full, extent;
        if (!i64_mul(strides[i], x->dims[2 + i] - 1, &full) || !i64_mul(dilations[i], w->dims[2 + i] - 1, &extent) ||
            full > IR_MAX_NUMEL || extent > IR_MAX_NUMEL)
            return ir_op_error(op, diags, "spatial axis %d is too long", i);
        out->dims[2 + i] = full + outpad[i] + extent + 1 - pads[i] - pads[sp + i];
    }
    return true;
}

static bool infer_dilate(const Op *op, Type *out, Diags *diags)
{
    const Type *x = &op->inputs[0]->type;
    int64_t strides[IR_MAX_RANK];
    if (!spatial_input(op, diags, x) || !ints_in(op, diags, "strides", x->rank - 2, true, 1, 1, IR_MAX_NUMEL, strides))
        return false;
    *out = *x;
    for (int i = 0; i < x->rank - 2; i++)
        if (!i64_mul(strides[i], x->dims[2 + i] - 1, &out->dims[2 + i]) || ++out->dims[2 + i] > IR_MAX_NUMEL)
            return ir_op_error(op, diags, "spatial axis %d is too long", i);
    return true;
}

static bool infer_resize(const Op *op, Type *out, Diags *diags)
{
    static const char *const modes[] = {"nearest", "linear", "cubic", NULL};
    static const char *const transforms[] = {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                                             "tf_half_pixel_for_nn", "tf_crop_and_resize", NULL};
    static const char *const nearest[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil", NULL};
    const Type *x = &op->inputs[0]->type;
    const Attr *coord = ir_attr(op, "coordinate_transformation_mode"), *roi = ir_attr(op, "roi");
    bool crop = coord && coord->kind == ATTR_STRING && strcmp(coord->s, "tf_crop_and_resize") == 0;
    if (crop && (!roi || roi->kind != ATTR_FLOATS || roi->count != 2 * x->rank))
        return ir_op_error(op, diags, "tf_crop_and_resize needs the attribute 'roi', a list of %d floats", 2 * x->rank);
    for (int i = 0; crop && i < 2 * x->rank; i++)
        if (!isfinite(roi->floats[i]))
            return ir_op_error(op, diags, "roi[%d] must be finite", i);
    int64_t sizes[IR_MAX_RANK];
    const Attr *scales = ir_attr(op, "scales");
    if (!ints_in(op, diags, "sizes", x->rank, true, 1, 1, IR_MAX_NUMEL, sizes))
        return false;
    if (!scales || scales->kind != ATTR_FLOATS || scales->count != x->rank)
        return ir_op_error(op, diags, "attribute 'scales' must be a list of %d floats", x->rank);
    for (int i = 0; i < x->rank; i++)
        if (!(scales->floats[i] > 0.0f) || isinf(scales->floats[i]))
            return ir_op_error(op, diags, "scales[%d] = %g must be positive and finite", i, (double)scales->floats[i]);
    if (!string_in(op, diags, "mode", "nearest", modes) ||
        !string_in(op, diags, "coordinate_transformation_mode", "half_pixel", transforms) ||
        !string_in(op, diags, "nearest_mode", "round_prefer_floor", nearest))
        return false;
    *out = type_make(x->rank, sizes);
    return true;
}

static bool infer_slice(const Op *op, Type *out, Diags *diags)
{
    const Type *x = &op->inputs[0]->type;
    int64_t starts[IR_MAX_RANK], ends[IR_MAX_RANK], steps[IR_MAX_RANK];
    if (!ints_in(op, diags, "starts", x->rank, true, 0, 0, IR_MAX_NUMEL, starts) ||
        !ints_in(op, diags, "ends", x->rank, true, 0, -1, IR_MAX_NUMEL, ends) ||
        !ints_in(op, diags, "steps", x->rank, true, 1, -IR_MAX_NUMEL, IR_MAX_NUMEL, steps))
        return false;
    *out = *x;
    for (int i = 0; i < x->rank; i++) {
        if (starts[i] >= x->dims[i] || ends[i] > x->dims[i] || steps[i] == 0)
            return ir_op_error(op, diags, "axis %d of %s: start %lld, end %lld, step %lld out of range", i,
                        fmt_type(diags, x), (long long)starts[i], (long long)ends[i], (long long)steps[i]);
        int64_t span = steps[i] > 0 ? ends[i] - starts[i] : starts[i] - ends[i];
        int64_t step = steps[i] > 0 ? steps[i] : -steps[i];
        out->dims[i] = span > 0 ? (span + step - 1) / step : 0;
    }
    return true;
}

static bool infer_tile(const Op *op, Type *out, Diags *diags)
{
    const Type *x = &op->inputs[0]->type;
    int64_t repeats[IR_MAX_RANK];
    if (!ints_in(op, diags, "repeats", x->rank, true, 1, 1, IR_MAX_NUMEL, repeats))
        return false;
    *out = *x;
    for (int i = 0; i < x->rank; i++)
        if (!i64_mul(x->dims[i], repeats[i], &out->dims[i]) || out->dims[i] > IR_MAX_NUMEL)
            return ir_op_error(op, diags, "axis %d repeated %lld times is too long", i, (long long)repeats[i]);
    return true;
}

/* Pad's reflect and edge modes (constant pads are infer.c's): pads within the axis. */
bool infer_pad_mode(const Op *op, Diags *diags)
{
    static const char *const modes[] = {"constant", "reflect", "edge", NULL};
    if (!string_in(op, diags, "mode", "constant", modes))
        return false;
    const Attr *a = ir_attr(op, "mode");
    if (!a || strcmp(a->s, "constant") == 0)
        return true;
    const Type *x = &op->inputs[0]->type;
    const int64_t *pads;
    int n = ir_attr_ints(op, "pads", &pads);
    bool reflect = strcmp(a->s, "reflect") == 0;
    for (int i = 0; i < n && i < 2 * x->rank; i++) {
        int64_t dim = x->dims[i % x->rank];
        if (pads[i] < 0 || (reflect && pads[i] >= dim))
            return ir_op_error(op, diags, "%s pads[%d] = %lld must be 0 to %lld for axis %d of %s", a->s, i, (long long)pads[i],
                        (long long)(reflect ? dim - 1 : IR_MAX_NUMEL), i % x->rank, fmt_type(diags, x));
    }
    return true;
}

static bool infer_gridsample(const Op *op, Type *out, Diags *diags)
{
    static const char *const modes[] = {"bilinear", "nearest", "bicubic", NULL};
    static const char *const paddings[] = {"zeros", "border", "reflection", NULL};
    const Type *x = &op->inputs[0]->type, *grid = &op->inputs[1]->type;
    if (x->rank != 4)
        return ir_op_error(op, diags, "input %s must be N x C x H x W", fmt_type(diags, x));
    if (grid->rank != 4 || grid->dims[0] != x->dims[0] || grid->dims[3] != 2)
        return ir_op_error(op, diags, "grid %s must be [%lld, H_out, W_out, 2]", fmt_type(diags, grid),
                           (long long)x->dims[0]);
    const Attr *a = ir_attr(op, "align_corners");
    if (a && (a->kind != ATTR_INT || (a->i != 0 && a->i != 1)))
        return ir_op_error(op, diags, "align_corners must be 0 or 1");
    if (!string_in(op, diags, "mode", "bilinear", modes) || !string_in(op, diags, "padding_mode", "zeros", paddings))
        return false;
    int64_t dims[4] = {x->dims[0], x->dims[1], grid->dims[1], grid->dims[2]};
    *out = type_make(4, dims);
    return true;
}

bool infer_layout_type(const Op *op, Type *result, Diags *diags)
{
    switch (op->kind) {
    case OP_CONVTRANSPOSE: return infer_convtranspose(op, result, diags);
    case OP_DILATE: return infer_dilate(op, result, diags);
    case OP_RESIZE: return infer_resize(op, result, diags);
    case OP_SLICE: return infer_slice(op, result, diags);
    case OP_TILE: return infer_tile(op, result, diags);
    case OP_GRIDSAMPLE: return infer_gridsample(op, result, diags);
    default: return ir_op_error(op, diags, "no shape rule for this op");
    }
}
