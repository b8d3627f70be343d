/* onnx_ops_layout.c: ConvTranspose, Resize and Upsample, Slice on a graph
 * value, Split and Tile -> IR ops (ops.def), with ONNX's defaults made
 * explicit as onnx_ops.c does for the rest: ConvTranspose's auto_pad and
 * output_shape become explicit pads and output_padding, Resize's scales and
 * sizes both become attributes (the coordinate transforms read the scale),
 * Slice's starts and ends are clamped to each axis, Split becomes one slice
 * per output.  Parameters given as tensors must be constants at import.
 * onnx_ops.c's table routes these operators here. */
#include "frontend/onnx_fold.h"

#include <math.h>
#include <string.h>

/* ---- ConvTranspose ---- */

Value *onnx_lower_convtranspose(const OnnxNode *n)
{
    Value *in[3] = {onnx_data_input(n, 0), onnx_data_input(n, 1), NULL};
    if (!in[0] || !in[1] || (onnx_has_input(n, 2) && !(in[2] = onnx_data_input(n, 2))))
        return NULL;
    const Type *x = &in[0]->type, *wt = &in[1]->type;
    if (x->rank < 3 || x->rank > 5 || wt->rank != x->rank)
        return onnx_fail(n, "ConvTranspose needs an N x C x D... input of 1 to 3 spatial axes and a weight of the "
                         "same rank, got %s and %s", type_format(n->g->arena, x), type_format(n->g->arena, wt));
    int sp = x->rank - 2, got, got_shape;
    int64_t group, strides[2 * IR_MAX_RANK], dilations[2 * IR_MAX_RANK], pads[2 * IR_MAX_RANK];
    int64_t outpad[2 * IR_MAX_RANK], kshape[2 * IR_MAX_RANK], shape[2 * IR_MAX_RANK];
    const char *auto_pad;
    if (!onnx_get_int(n, "group", 1, &group) || !onnx_get_ints(n, "strides", sp, 1, strides, &got) ||
        !onnx_get_ints(n, "dilations", sp, 1, dilations, &got) ||
        !onnx_get_ints(n, "output_padding", sp, 0, outpad, &got) ||
        !onnx_get_ints(n, "kernel_shape", -1, 0, kshape, &got) ||
        !onnx_get_ints(n, "output_shape", -1, 0, shape, &got_shape) ||
        !onnx_get_string(n, "auto_pad", "NOTSET", &auto_pad))
        return NULL;
    if (onnx_attr(n, "kernel_shape") && (got != sp || memcmp(kshape, wt->dims + 2, (size_t)sp * sizeof *kshape) != 0))
        return onnx_fail(n, "kernel_shape does not match the weight %s", type_format(n->g->arena, wt));
    for (int i = 0; i < sp; i++) {
        const char *bad = strides[i] < 1 || strides[i] > IR_MAX_NUMEL ? "strides"
                          : dilations[i] < 1 || dilations[i] > IR_MAX_NUMEL ? "dilations"
                          : outpad[i] < 0 || outpad[i] > IR_MAX_NUMEL ? "output_padding" : NULL;
        if (bad)
            return onnx_fail(n, "attribute '%s' must hold values from %d to %lld", bad, bad[0] != 'o',
                             (long long)IR_MAX_NUMEL);
    }
    bool same = strcmp(auto_pad, "SAME_UPPER") == 0 || strcmp(auto_pad, "SAME_LOWER") == 0;
    if (!same && strcmp(auto_pad, "NOTSET") != 0 && strcmp(auto_pad, "VALID") != 0)
        return onnx_fail(n, "unknown auto_pad '%s'", auto_pad);
    if (onnx_attr(n, "output_shape") && got_shape != sp && got_shape != sp + 2)
        return onnx_fail(n, "output_shape has %d values, expected %d", got_shape, sp);
    if (onnx_attr(n, "output_shape") || same) {
        /* ONNX: the pads that give this output shape, the odd unit at the
         * beginning unless SAME_UPPER; a negative total extends the end. */
        for (int i = 0; i < sp; i++) {
            int64_t want = onnx_attr(n, "output_shape") ? shape[got_shape - sp + i] : x->dims[2 + i] * strides[i];
            if (want < 1 || want > IR_MAX_NUMEL)
                return onnx_fail(n, "output_shape[%d] = %lld is out of range", i, (long long)want);
            int64_t total = strides[i] * (x->dims[2 + i] - 1) + outpad[i] + (wt->dims[2 + i] - 1) * dilations[i] + 1 -
                            want;   /* every term within 2^33: no overflow */
            if (total < 0) {
                outpad[i] -= total;
                total = 0;
            }
            bool upper = strcmp(auto_pad, "SAME_UPPER") == 0;
            pads[i] = upper ? total / 2 : total - total / 2;
            pads[sp + i] = total - pads[i];
        }
    } else if (strcmp(auto_pad, "VALID") == 0) {
        for (int i = 0; i < 2 * sp; i++)
            pads[i] = 0;
    } else if (!onnx_get_ints(n, "pads", 2 * sp, 0, pads, &got)) {
        return NULL;
    }
    Op *op = onnx_emit(n, OP_CONVTRANSPOSE, in, in[2] ? 3 : 2, n->output);
    ir_set_ints(n->g, op, "dilations", dilations, sp);
    ir_set_int(n->g, op, "group", group);
    ir_set_ints(n->g, op, "output_padding", outpad, sp);
    ir_set_ints(n->g, op, "pads", pads, 2 * sp);
    ir_set_ints(n->g, op, "strides", strides, sp);
    return onnx_typed(n, op);
}

/* ---- Resize and Upsample ---- */

/* A float list parameter (Resize's scales, roi) given as input i, at most
 * 2 * IR_MAX_RANK values (out has room for them); count 0 when empty. */
static bool floats_input(const OnnxNode *n, int i, const char *what, float *out, int *count)
{
    const OnnxConst *k = onnx_const_input(n, i, what);
    if (!k)
        return false;
    if (k->rank > 1 || k->numel > 2 * IR_MAX_RANK)
        return onnx_fail(n, "%s '%s' must be a short 1-D tensor", what, n->inputs[i].name), false;
    for (int64_t j = 0; j < k->numel; j++)
        out[j] = k->f[j];
    *count = (int)k->numel;
    return true;
}

static bool in_list(const char *s, const char *const *list)
{
    for (int i = 0; list[i]; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

/* Upsample (opset 7 to 9) and Resize-10 are Resize with asymmetric
 * coordinates and, for nearest, the floor of the source coordinate (ONNX
 * Runtime's reading; downsampling, where it takes the ceiling, is refused). */
Value *onnx_lower_resize(const OnnxNode *n, const char *op_type)
{
    static const char *const transforms[] = {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                                             "tf_half_pixel_for_nn", "tf_crop_and_resize", NULL};
    static const char *const nearest_modes[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil", NULL};
    Value *x = onnx_data_input(n, 0);
    if (!x)
        return NULL;
    int rank = x->type.rank, n_scales = 0, n_sizes = 0, n_roi = 0;
    float scales[2 * IR_MAX_RANK], roi[2 * IR_MAX_RANK], extrapolation;
    int64_t sizes[2 * IR_MAX_RANK];
    const char *mode, *coord = "asymmetric", *nearest = "floor";
    int64_t exclude_outside;
    bool old = strcmp(op_type, "Upsample") == 0 || n->opset < 11;
    if (!onnx_get_string(n, "mode", "nearest", &mode) || !onnx_get_int(n, "exclude_outside", 0, &exclude_outside))
        return NULL;
    if (strcmp(mode, "bilinear") == 0 && strcmp(op_type, "Upsample") == 0)
        mode = "linear";    /* Upsample-7's name for it */
    bool cubic = strcmp(mode, "cubic") == 0;
    float cubic_a;
    if ((strcmp(mode, "nearest") != 0 && strcmp(mode, "linear") != 0 && !cubic) || (cubic && old))
        return onnx_fail(n, "%s mode '%s' is not supported (nearest and linear are, and cubic from Resize-11)",
                         op_type, mode);
    if (!onnx_get_float(n, "cubic_coeff_a", -0.75f, &cubic_a))
        return NULL;
    if (old && strcmp(op_type, "Upsample") == 0 && n->opset < 9) {
        const OnnxAttr *a = onnx_attr(n, "scales");
        if (!a || a->kind != OA_FLOATS || a->count > IR_MAX_RANK)
            return onnx_fail(n, "Upsample needs a 'scales' attribute of one float per axis");
        for (int i = 0; i < a->count; i++)
            scales[i] = a->floats[i];
        n_scales = a->count;
    } else if (old) {
        if (!onnx_has_input(n, 1))
            return onnx_fail(n, "%s needs a scales input", op_type);
        if (!floats_input(n, 1, "scales", scales, &n_scales))
            return NULL;
    } else {
        if (!onnx_get_string(n, "coordinate_transformation_mode", "half_pixel", &coord) ||
            !onnx_get_string(n, "nearest_mode", "round_prefer_floor", &nearest))
            return NULL;
        if (!in_list(coord, transforms))
            return onnx_fail(n, "coordinate_transformation_mode '%s' is not supported", coord);
        if (!in_list(nearest, nearest_modes))
            return onnx_fail(n, "nearest_mode '%s' is not supported", nearest);
        bool crop = strcmp(coord, "tf_crop_and_resize") == 0;
        if (crop && (!onnx_has_input(n, 1) || !floats_input(n, 1, "roi", roi, &n_roi) ||
                     !onnx_get_float(n, "extrapolation_value", 0.0f, &extrapolation)))
            return onnx_has_input(n, 1) ? NULL : onnx_fail(n, "tf_crop_and_resize needs a roi input");
        if (crop && n_roi != 2 * rank)
            return onnx_fail(n, "roi has %d values, not %d (starts and ends of every axis)", n_roi, 2 * rank);
        if ((onnx_has_input(n, 2) && !floats_input(n, 2, "scales", scales, &n_scales)) ||
            (onnx_has_input(n, 3) && !onnx_ints_input(n, 3, "sizes", sizes, &n_sizes)))
            return NULL;
    }
    if (exclude_outside && !cubic)
        return onnx_fail(n, "exclude_outside = 1 is not supported but in cubic mode");
    if ((n_scales == 0) == (n_sizes == 0))
        return onnx_fail(n, "%s needs either scales or sizes (one of them non-empty)", op_type);
    if (n_scales && n_scales != rank)
        return onnx_fail(n, "%d scales for an input of rank %d", n_scales, rank);
    if (n_sizes && n_sizes != rank)
        return onnx_fail(n, "%d sizes for an input of rank %d", n_sizes, rank);
    for (int i = 0; i < rank; i++) {
        int64_t in = x->type.dims[i];
        if (n_scales) {
            if (!(scales[i] > 0.0f) || isinf(scales[i]) || (double)scales[i] * (double)in > (double)IR_MAX_NUMEL)
                return onnx_fail(n, "scales[%d] = %g is out of range", i, (double)scales[i]);
            sizes[i] = (int64_t)floor((double)scales[i] * (double)in);
        } else {
            if (sizes[i] < 1 || sizes[i] > IR_MAX_NUMEL)
                return onnx_fail(n, "sizes[%d] = %lld is not supported (1 to %lld)", i, (long long)sizes[i],
                                 (long long)IR_MAX_NUMEL);
            scales[i] = (float)((double)sizes[i] / (double)in);
        }
        if (sizes[i] < 1)
            return onnx_fail(n, "an empty result (axis %d scaled by %g) is not supported", i, (double)scales[i]);
        if (old && strcmp(mode, "nearest") == 0 && scales[i] < 1.0f)
            return onnx_fail(n, "%s-%d nearest downsampling is not supported", op_type, n->opset);
    }
    Op *op = onnx_emit(n, OP_RESIZE, &x, 1, n->output);
    ir_set_string(n->g, op, "coordinate_transformation_mode", coord);
    if (n_roi) {
        ir_set_float(n->g, op, "extrapolation_value", extrapolation);
        ir_set_floats(n->g, op, "roi", roi, n_roi);
    }
    if (cubic) {
        ir_set_float(n->g, op, "cubic_coeff_a", cubic_a);
        ir_set_int(n->g, op, "exclude_outside", exclude_outside != 0);
    }
    ir_set_string(n->g, op, "mode", mode);
    ir_set_string(n->g, op, "nearest_mode", nearest);
    ir_set_floats(n->g, op, "scales", scales, rank);
    ir_set_ints(n->g, op, "sizes", sizes, rank);
    return onnx_typed(n, op);
}

/* ---- Slice, Split, Tile ---- */

/* One slice op of x (rank r) computing `name`: axis by axis x[start:end:step]. */
static Value *emit_slice(const OnnxNode *n, Value *x, const int64_t *starts, const int64_t *ends, const int64_t *steps,
                         const char *name)
{
    Op *op = onnx_emit(n, OP_SLICE, &x, 1, name);
    ir_set_ints(n->g, op, "ends", ends, x->type.rank);
    ir_set_ints(n->g, op, "starts", starts, x->type.rank);
    ir_set_ints(n->g, op, "steps", steps, x->type.rank);
    return onnx_typed(n, op);
}

/* Slice of a value computed at run time (onnx_fold.c folds one of known data
 * and routes this one here), its parameters read and clamped as ONNX says by
 * onnx_fold_slice_params. */
Value *onnx_lower_slice(const OnnxNode *n)
{
    Value *x = onnx_data_input(n, 0);
    int64_t first[IR_MAX_RANK], step[IR_MAX_RANK], count[IR_MAX_RANK], ends[IR_MAX_RANK];
    if (!x || !onnx_fold_slice_params(n, x->type.rank, x->type.dims, first, step, count))
        return NULL;
    for (int d = 0; d < x->type.rank; d++) {
        if (count[d] == 0)
            return onnx_fail(n, "Slice gives an empty tensor (axis %d), which is not supported", d);
        ends[d] = first[d] + (count[d] - 1) * step[d] + (step[d] > 0 ? 1 : -1);   /* in [-1, dim] */
    }
    return emit_slice(n, x, first, ends, step, n->output);
}

/* Split: one slice per output along `axis`, lengths from the split attribute
 * (before opset 13) or input, else equal parts. */
Value *onnx_lower_split(const OnnxNode *n)
{
    Value *x = onnx_data_input(n, 0);
    int64_t axis, split[2 * IR_MAX_RANK];
    int count = 0;
    if (!x || !onnx_get_int(n, "axis", 0, &axis) || !onnx_normalize_axes(n, "axis", &axis, 1, x->type.rank))
        return NULL;
    int outs = n->n_outputs;
    if (outs < 1 || outs > 2 * IR_MAX_RANK)
        return onnx_fail(n, "Split into %d outputs is not supported (1 to %d)", outs, 2 * IR_MAX_RANK);
    if (n->opset < 13 ? !onnx_get_ints(n, "split", -1, 0, split, &count)
                      : onnx_has_input(n, 1) && !onnx_ints_input(n, 1, "split", split, &count))
        return NULL;
    int64_t dim = x->type.dims[axis];
    if (count == 0) {
        if (dim % outs != 0)
            return onnx_fail(n, "axis %lld of %s does not split into %d equal parts", (long long)axis,
                             type_format(n->g->arena, &x->type), outs);
        for (int i = 0; i < outs; i++)
            split[i] = dim / outs;
        count = outs;
    }
    if (count != outs)
        return onnx_fail(n, "split has %d lengths for %d outputs", count, outs);
    int64_t total = 0;
    for (int i = 0; i < count; i++) {
        if (split[i] == 0)
            return onnx_fail(n, "an empty split (output %d) is not supported", i);
        if (split[i] < 0 || split[i] > dim || (total += split[i]) > dim)
            return onnx_fail(n, "split lengths must be positive and add up to %lld", (long long)dim);
    }
    if (total != dim)
        return onnx_fail(n, "split lengths add up to %lld, not %lld", (long long)total, (long long)dim);
    int64_t starts[IR_MAX_RANK] = {0}, ends[IR_MAX_RANK], steps[IR_MAX_RANK];
    for (int a = 0; a < x->type.rank; a++) {
        ends[a] = x->type.dims[a];
        steps[a] = 1;
    }
    Value *first = NULL;
    for (int i = 0; i < outs; i++) {
        ends[axis] = starts[axis] + split[i];
        const char *name = n->outputs[i][0] ? n->outputs[i]
                                            : onnx_fresh_name(n->imp, arena_printf(n->g->arena, "%s.%d", n->output, i));
        Value *part = emit_slice(n, x, starts, ends, steps, name);
        if (!part)
            return NULL;
        first = first ? first : part;
        n->results[i] = part;
        starts[axis] = ends[axis];
    }
    return first;
}

Value *onnx_lower_tile(const OnnxNode *n)
{
    Value *x = onnx_data_input(n, 0);
    int64_t repeats[2 * IR_MAX_RANK];
    int count;
    if (!x || !onnx_has_input(n, 1) || !onnx_ints_input(n, 1, "repeats", repeats, &count))
        return x && !onnx_has_input(n, 1) ? onnx_fail(n, "Tile needs a repeats input") : NULL;
    if (count != x->type.rank)
        return onnx_fail(n, "%d repeats for an input of rank %d", count, x->type.rank);
    for (int i = 0; i < count; i++)
        if (repeats[i] < 1 || repeats[i] > IR_MAX_NUMEL)
            return onnx_fail(n, "repeats[%d] = %lld is not supported (1 to %lld)", i, (long long)repeats[i],
                             (long long)IR_MAX_NUMEL);
    Op *op = onnx_emit(n, OP_TILE, &x, 1, n->output);
    ir_set_ints(n->g, op, "repeats", repeats, count);
    return onnx_typed(n, op);
}

/* ---- DepthToSpace, SpaceToDepth ---- */

/* reshape -> transpose -> reshape, the intermediates named after the output. */
static Value *emit_shuffle(const OnnxNode *n, Value *x, const int64_t *split, int split_rank, const int64_t *perm,
                           const int64_t *out, int out_rank)
{
    Op *op = onnx_emit(n, OP_RESHAPE, &x, 1, onnx_fresh_name(n->imp, arena_printf(n->g->arena, "%s.blocks", n->output)));
    ir_set_ints(n->g, op, "shape", split, split_rank);
    Value *v = onnx_typed(n, op);
    if (!v)
        return NULL;
    op = onnx_emit(n, OP_TRANSPOSE, &v, 1, onnx_fresh_name(n->imp, arena_printf(n->g->arena, "%s.moved", n->output)));
    ir_set_ints(n->g, op, "perm", perm, split_rank);
    if (!(v = onnx_typed(n, op)))
        return NULL;
    op = onnx_emit(n, OP_RESHAPE, &v, 1, n->output);
    ir_set_ints(n->g, op, "shape", out, out_rank);
    return onnx_typed(n, op);
}

/* DepthToSpace (modes DCR and CRD) and SpaceToDepth of N x C x H x W, as
 * ONNX defines them: a reshape into blocks, a transpose, a reshape back. */
Value *onnx_lower_depth_space(const OnnxNode *n, const char *op_type)
{
    Value *x = onnx_data_input(n, 0);
    int64_t b;
    const char *mode;
    if (!x || !onnx_get_int(n, "blocksize", 0, &b) || !onnx_get_string(n, "mode", "DCR", &mode))
        return NULL;
    const Type *t = &x->type;
    if (t->rank != 4)
        return onnx_fail(n, "%s needs an N x C x H x W input, got %s", op_type, type_format(n->g->arena, t));
    if (!onnx_attr(n, "blocksize") || b < 1 || b > 1 << 16)
        return onnx_fail(n, "attribute 'blocksize' must be given, from 1 to 65536");
    int64_t N = t->dims[0], C = t->dims[1], H = t->dims[2], W = t->dims[3];
    if (strcmp(op_type, "SpaceToDepth") == 0) {
        if (H % b || W % b)
            return onnx_fail(n, "blocksize %lld does not divide H x W of %s", (long long)b, type_format(n->g->arena, t));
        int64_t split[6] = {N, C, H / b, b, W / b, b}, perm[6] = {0, 3, 5, 1, 2, 4};
        int64_t out[4] = {N, C * b * b, H / b, W / b};
        return emit_shuffle(n, x, split, 6, perm, out, 4);
    }
    bool crd = strcmp(mode, "CRD") == 0;
    if (!crd && strcmp(mode, "DCR") != 0)
        return onnx_fail(n, "attribute 'mode' must be \"DCR\" or \"CRD\", not \"%s\"", mode);
    if (C % (b * b))
        return onnx_fail(n, "blocksize %lld squared does not divide the channels of %s", (long long)b,
                         type_format(n->g->arena, t));
    int64_t c = C / (b * b), out[4] = {N, c, H * b, W * b};
    int64_t dcr_split[6] = {N, b, b, c, H, W}, dcr_perm[6] = {0, 3, 4, 1, 5, 2};
    int64_t crd_split[6] = {N, c, b, b, H, W}, crd_perm[6] = {0, 1, 4, 2, 5, 3};
    return emit_shuffle(n, x, crd ? crd_split : dcr_split, 6, crd ? crd_perm : dcr_perm, out, 4);
}

/* ---- GridSample ---- */

Value *onnx_lower_gridsample(const OnnxNode *n)
{
    Value *in[2] = {onnx_data_input(n, 0), onnx_data_input(n, 1)};
    const char *mode, *padding;
    int64_t align_corners;
    if (!in[0] || !in[1] || !onnx_get_string(n, "mode", "bilinear", &mode) ||
        !onnx_get_string(n, "padding_mode", "zeros", &padding) || !onnx_get_int(n, "align_corners", 0, &align_corners))
        return NULL;
    Op *op = onnx_emit(n, OP_GRIDSAMPLE, in, 2, n->output);
    ir_set_int(n->g, op, "align_corners", align_corners != 0);
    ir_set_string(n->g, op, "mode", mode);
    ir_set_string(n->g, op, "padding_mode", padding);
    return onnx_typed(n, op);
}

/* ---- ReverseSequence ---- */

/* ReverseSequence with sequence_lens known at import: per batch element a
 * slice, its first lens[b] steps taken backwards (a slice of step -1) and
 * joined with the rest, then the elements joined again. */
Value *onnx_lower_reverse_sequence(const OnnxNode *n)
{
    Value *x = onnx_data_input(n, 0);
    int64_t batch_axis, time_axis, lens[64];
    if (!x || !onnx_get_int(n, "batch_axis", 1, &batch_axis) || !onnx_get_int(n, "time_axis", 0, &time_axis))
        return NULL;
    const Type *t = &x->type;
    if (t->rank < 2 || !((batch_axis == 0 && time_axis == 1) || (batch_axis == 1 && time_axis == 0)))
        return onnx_fail(n, "batch_axis and time_axis must be 0 and 1 (either way) of an input of rank 2 or more");
    int64_t batch = t->dims[batch_axis], steps = t->dims[time_axis];
    if (batch > 64)
        return onnx_fail(n, "a batch of %lld is not supported (at most 64)", (long long)batch);
    const OnnxConst *k = onnx_has_input(n, 1) ? onnx_const_input(n, 1, "sequence_lens") : NULL;
    if (!k)
        return onnx_has_input(n, 1) ? NULL : onnx_fail(n, "ReverseSequence needs a sequence_lens input");
    if (!k->i || k->numel != batch)
        return onnx_fail(n, "sequence_lens must be %lld integers", (long long)batch);
    for (int64_t b = 0; b < batch; b++) {
        lens[b] = k->i[b];
        if (lens[b] < 0 || lens[b] > steps)
            return onnx_fail(n, "sequence_lens[%lld] = %lld is out of range [0, %lld]", (long long)b,
                             (long long)lens[b], (long long)steps);
    }
    Value *parts[64];
    int64_t starts[IR_MAX_RANK] = {0}, ends[IR_MAX_RANK], step[IR_MAX_RANK];
    for (int a = 0; a < t->rank; a++) {
        ends[a] = t->dims[a];
        step[a] = 1;
    }
    for (int64_t b = 0; b < batch; b++) {
        starts[batch_axis] = b, ends[batch_axis] = b + 1;
        starts[time_axis] = 0, ends[time_axis] = steps, step[time_axis] = 1;
        const char *stem = arena_printf(n->g->arena, "%s.%lld", n->output, (long long)b);
        Value *pair[2];
        int got = 0;
        if (lens[b] > 1) {      /* steps lens-1 down to 0 */
            starts[time_axis] = lens[b] - 1, ends[time_axis] = -1, step[time_axis] = -1;
            pair[got++] = emit_slice(n, x, starts, ends, step, onnx_fresh_name(n->imp, stem));
            starts[time_axis] = lens[b], ends[time_axis] = steps, step[time_axis] = 1;
        }
        if (starts[time_axis] < steps)
            pair[got++] = emit_slice(n, x, starts, ends, step, onnx_fresh_name(n->imp, stem));
        for (int i = 0; i < got; i++)
            if (!pair[i])
                return NULL;
        parts[b] = pair[0];
        if (got == 2) {
            Op *op = onnx_emit(n, OP_CONCAT, pair, 2, onnx_fresh_name(n->imp, stem));
            ir_set_int(n->g, op, "axis", time_axis);
            if (!(parts[b] = onnx_typed(n, op)))
                return NULL;
        }
    }
    Op *op = onnx_emit(n, OP_CONCAT, parts, (int)batch, n->output);
    ir_set_int(n->g, op, "axis", batch_axis);
    return onnx_typed(n, op);
}
