/* convtranspose_to_conv.c: a convtranspose with constant weights becomes its
 * equivalent convolution, so that lower-xbar maps it onto crossbars
 * (docs/crossbar.md section 2).
 *
 * Per spatial axis, with stride s, dilation d, kernel k, pads pb and pe and
 * output_padding op: the transposed convolution equals a stride-1 convolution
 * with dilation d of the input with s - 1 zeros inserted between neighbours
 * (dilate), padded by d (k - 1) - pb at the beginning and d (k - 1) - pe + op
 * at the end, by the kernel flipped along every spatial axis and with its two
 * channel axes swapped per group: w'[g M/G + m, c, t] = w[g C/G + c, m, k - 1 - t].
 * Pads the conv cannot take (negative ones: pb or pe beyond the kernel's
 * extent) become a pad op that crops.  The op is rewritten in place into the
 * conv, keeping its result's name, type and location; the dilate and pad
 * ops go right before it.  Non-constant weights stay digital. */
#include "passes/passes.h"

#include <string.h>

static void ints_or(const Op *op, const char *name, int count, int64_t dflt, int64_t *out)
{
    const int64_t *v;
    int n = ir_attr_ints(op, name, &v);
    for (int i = 0; i < count; i++)
        out[i] = n == count ? v[i] : dflt;
}

/* Moves the last `count` ops of g to position `at` (before the op there). */
static void move_last_to(Graph *g, int at, int count)
{
    Op *moved[2];
    for (int k = 0; k < count; k++)
        moved[k] = g->ops[g->n_ops - count + k];
    memmove(g->ops + at + count, g->ops + at, (size_t)(g->n_ops - count - at) * sizeof *g->ops);
    for (int k = 0; k < count; k++)
        g->ops[at + k] = moved[k];
}

/* Appends op(kind, x) computing a fresh value named after `stem`, typed. */
static Value *add_typed(Graph *g, Op *like, OpKind kind, Value *x, const char *stem, const char *attr,
                        const int64_t *v, int count, Diags *diags)
{
    Type untyped = {.dtype = DT_F32};
    Op *op = ir_add_op(g, kind, &x, 1, ir_fresh_name(g, stem), untyped, like->loc);
    ir_set_ints(g, op, attr, v, count);
    return ir_infer_type(op, &op->result->type, diags) ? op->result : NULL;
}

/* The flipped, channel-swapped kernel as a new constant [M, C/G, kernel...]. */
static Value *conv_weights(Graph *g, const Value *w, int64_t group)
{
    const Type *wt = &w->type;
    int64_t c_all = wt->dims[0], mg = wt->dims[1], cg = c_all / group, taps = type_numel(wt) / (c_all * mg);
    Type ct = *wt;
    ct.dims[0] = mg * group;
    ct.dims[1] = cg;
    Value *wc = ir_add_const(g, ir_fresh_name(g, arena_printf(g->arena, "%s.conv", w->name)), ct, NULL);
    for (int64_t gi = 0; gi < group; gi++)
        for (int64_t c = 0; c < cg; c++)
            for (int64_t m = 0; m < mg; m++) {
                const float *src = w->data + ((gi * cg + c) * mg + m) * taps;
                float *dst = wc->data + ((gi * mg + m) * cg + c) * taps;
                for (int64_t t = 0; t < taps; t++)     /* flipping every axis reverses the flat order */
                    dst[t] = src[taps - 1 - t];
            }
    return wc;
}

static bool rewrite(Graph *g, int at, Diags *diags)
{
    Op *op = g->ops[at];
    Value *x = op->inputs[0], *w = op->inputs[1], *bias = op->n_inputs > 2 ? op->inputs[2] : NULL;
    int sp = x->type.rank - 2, added = 0;
    int64_t group = ir_attr_int(op, "group", 1);
    int64_t strides[IR_MAX_RANK], dilations[IR_MAX_RANK], pads[2 * IR_MAX_RANK], outpad[IR_MAX_RANK];
    int64_t conv_pads[2 * IR_MAX_RANK], crop[2 * IR_MAX_RANK] = {0}, ones[IR_MAX_RANK];
    ints_or(op, "strides", sp, 1, strides);
    ints_or(op, "dilations", sp, 1, dilations);
    ints_or(op, "pads", 2 * sp, 0, pads);
    ints_or(op, "output_padding", sp, 0, outpad);
    bool strided = false, cropped = false;
    for (int i = 0; i < sp; i++) {
        int64_t extent = dilations[i] * (w->type.dims[2 + i] - 1);   /* verified: within 2^32 */
        int64_t lo = extent - pads[i], hi = extent - pads[sp + i] + outpad[i];
        conv_pads[i] = lo > 0 ? lo : 0;
        conv_pads[sp + i] = hi > 0 ? hi : 0;
        crop[2 + i] = lo < 0 ? lo : 0;
        crop[x->type.rank + 2 + i] = hi < 0 ? hi : 0;
        cropped |= lo < 0 || hi < 0;
        strided |= strides[i] > 1;
        ones[i] = 1;
    }
    Value *in = x;
    if (strided) {
        in = add_typed(g, op, OP_DILATE, in, arena_printf(g->arena, "%s.dilated", op->result->name), "strides",
                       strides, sp, diags);
        added++;
    }
    if (in && cropped) {
        in = add_typed(g, op, OP_PAD, in, arena_printf(g->arena, "%s.cropped", op->result->name), "pads", crop,
                       2 * x->type.rank, diags);
        added++;
    }
    if (!in)
        return false;
    move_last_to(g, at, added);
    Value **inputs = arena_array(g->arena, 3, sizeof *inputs);
    inputs[0] = in;
    inputs[1] = conv_weights(g, w, group);
    inputs[2] = bias;
    op->kind = OP_CONV;
    op->inputs = inputs;
    op->n_attrs = 0;
    op->attrs = NULL;
    ir_set_ints(g, op, "dilations", dilations, sp);
    ir_set_int(g, op, "group", group);
    ir_set_ints(g, op, "pads", conv_pads, 2 * sp);
    ir_set_ints(g, op, "strides", ones, sp);
    Type t;
    if (!ir_infer_type(op, &t, diags))
        return false;
    if (!type_equal(&t, &op->result->type)) {
        diag_error(diags, &op->loc, "convtranspose-to-conv: the conv computes %s, not %s", type_format(g->arena, &t),
                   type_format(g->arena, &op->result->type));
        return false;
    }
    return true;
}

bool pass_convtranspose_to_conv(Graph *g, const PassArgs *args, Diags *diags)
{
    (void)args;
    bool changed = false;
    for (int i = 0; i < g->n_ops; i++) {
        Op *op = g->ops[i];
        const Value *w = op->n_inputs > 1 ? op->inputs[1] : NULL;
        if (op->dead || op->kind != OP_CONVTRANSPOSE || !w->data || w->def || w->is_input)
            continue;
        int before = g->n_ops;
        if (!rewrite(g, i, diags))
            return false;
        i += g->n_ops - before;     /* past the ops moved in before it */
        changed = true;
    }
    if (changed)
        ir_compact(g);
    return true;
}
