/* interp_layout.c: convtranspose, dilate, resize, slice and tile of ops.def,
 * and pad's reflect and edge modes, for interp_exec_op (so the simulator's
 * digital units run them too): each op's attributes read (defaults as ops.def
 * names them) and its kernel of runtime/kernels_layout.c called. */
#include "runtime.h"
#include "kernels.h"

#include <string.h>

static void ints_or(const Op *op, const char *name, int count, int64_t dflt, int64_t *out)
{
    const int64_t *v;
    int n = ir_attr_ints(op, name, &v);
    for (int i = 0; i < count; i++)
        out[i] = n == count ? v[i] : dflt;
}

/* The geometry of a convtranspose (kernel from w) or a dilate (no w). */
static void spatial_params(const Op *op, ConvParams *p)
{
    const Type *x = &op->inputs[0]->type, *y = &op->result->type;
    const Type *w = op->kind == OP_CONVTRANSPOSE ? &op->inputs[1]->type : NULL;
    int s = x->rank - 2;
    memset(p, 0, sizeof *p);
    p->spatial = s;
    p->batch = x->dims[0];
    p->in_channels = x->dims[1];
    p->out_channels = y->dims[1];
    p->group = ir_attr_int(op, "group", 1);
    for (int i = 0; i < s; i++) {
        p->in[i] = x->dims[2 + i];
        p->kernel[i] = w ? w->dims[2 + i] : 1;
        p->out[i] = y->dims[2 + i];
    }
    ints_or(op, "strides", s, 1, p->strides);
    ints_or(op, "dilations", s, 1, p->dilations);
    ints_or(op, "pads", 2 * s, 0, p->pads);
}

static int string_index(const Op *op, const char *name, const char *const *names, int count)
{
    const Attr *a = ir_attr(op, name);
    for (int i = 0; a && a->kind == ATTR_STRING && i < count; i++)
        if (strcmp(a->s, names[i]) == 0)
            return i;
    return 0;       /* absent: the default, listed first */
}

static void resize_params(const Op *op, ResizeParams *p)
{
    static const char *const coords[] = {
        [RESIZE_HALF_PIXEL] = "half_pixel", [RESIZE_PYTORCH_HALF_PIXEL] = "pytorch_half_pixel",
        [RESIZE_ALIGN_CORNERS] = "align_corners", [RESIZE_ASYMMETRIC] = "asymmetric",
        [RESIZE_TF_HALF_PIXEL_FOR_NN] = "tf_half_pixel_for_nn", [RESIZE_TF_CROP_AND_RESIZE] = "tf_crop_and_resize",
    };
    static const char *const nearest[] = {
        [RESIZE_ROUND_PREFER_FLOOR] = "round_prefer_floor", [RESIZE_ROUND_PREFER_CEIL] = "round_prefer_ceil",
        [RESIZE_FLOOR] = "floor", [RESIZE_CEIL] = "ceil",
    };
    static const char *const modes[] = {"nearest", "linear", "cubic"};
    const Type *x = &op->inputs[0]->type, *y = &op->result->type;
    const Attr *scales = ir_attr(op, "scales");
    memset(p, 0, sizeof *p);
    p->rank = x->rank;
    for (int i = 0; i < x->rank; i++) {
        p->in[i] = x->dims[i];
        p->out[i] = y->dims[i];
        p->scales[i] = scales && scales->count == x->rank ? scales->floats[i] : 1.0;
    }
    int mode = string_index(op, "mode", modes, 3);
    p->linear = mode == 1;
    p->cubic = mode == 2;
    p->cubic_a = ir_attr_float(op, "cubic_coeff_a", -0.75f);
    p->exclude_outside = ir_attr_int(op, "exclude_outside", 0) != 0;
    p->coord = (ResizeCoord)string_index(op, "coordinate_transformation_mode", coords, 6);
    const Attr *roi = ir_attr(op, "roi");
    for (int i = 0; roi && roi->kind == ATTR_FLOATS && i < roi->count && i < 2 * KERNEL_MAX_RANK; i++)
        p->roi[i] = roi->floats[i];
    p->extrapolation = ir_attr_float(op, "extrapolation_value", 0.0f);
    p->nearest = (ResizeNearest)string_index(op, "nearest_mode", nearest, 4);
}

/* Whether the pad op has a reflect or edge mode (else constant: interp.c's kernel_pad). */
bool interp_pad_mode(const Op *op, bool *reflect)
{
    const Attr *a = ir_attr(op, "mode");
    if (!a || a->kind != ATTR_STRING || strcmp(a->s, "constant") == 0)
        return false;
    *reflect = strcmp(a->s, "reflect") == 0;
    return true;
}

void interp_exec_layout(const Op *op, const float *const *in, float *y)
{
    const Type *xt = &op->inputs[0]->type, *yt = &op->result->type;
    int64_t a[IR_MAX_RANK], b[IR_MAX_RANK * 2];
    ConvParams cp;
    ResizeParams rp;
    bool reflect;
    switch (op->kind) {
    case OP_CONVTRANSPOSE:
        spatial_params(op, &cp);
        kernel_convtranspose(&cp, in[0], in[1], op->n_inputs > 2 ? in[2] : NULL, y);
        break;
    case OP_DILATE:
        spatial_params(op, &cp);
        kernel_dilate(&cp, in[0], y);
        break;
    case OP_RESIZE:
        resize_params(op, &rp);
        kernel_resize(&rp, in[0], y);
        break;
    case OP_SLICE:
        ints_or(op, "starts", xt->rank, 0, a);
        ints_or(op, "steps", xt->rank, 1, b);
        kernel_slice(in[0], xt->rank, xt->dims, a, b, yt->dims, y);
        break;
    case OP_TILE:
        kernel_tile(in[0], xt->rank, xt->dims, yt->dims, y);
        break;
    case OP_GRIDSAMPLE: {
        static const char *const modes[] = {"bilinear", "nearest", "bicubic"};
        static const char *const paddings[] = {"zeros", "border", "reflection"};
        kernel_gridsample(xt->dims[0], xt->dims[1], xt->dims[2], xt->dims[3], yt->dims[2], yt->dims[3],
                          (GridMode)string_index(op, "mode", modes, 3),
                          (GridPadding)string_index(op, "padding_mode", paddings, 3),
                          ir_attr_int(op, "align_corners", 0) != 0, in[0], in[1], y);
        break;
    }
    case OP_PAD:
        if (interp_pad_mode(op, &reflect)) {
            ints_or(op, "pads", 2 * xt->rank, 0, b);
            kernel_pad_mode(in[0], xt->rank, xt->dims, b, reflect, y);
        }
        break;
    default:
        break;
    }
}
