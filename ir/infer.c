/* infer.c: the result type of every op, with ONNX's shape rules.
 *
 * ir_infer_type() is the one place that knows how shapes flow: the frontend
 * calls it to type each imported op, the verifier calls it to check that a
 * result type is still what the op computes, and passes call it when they build
 * ops.  It reads only the input types and the normalized attributes of ops.def
 * (pads as all begins then all ends, non-negative axes), and it reports every
 * inconsistency at op->loc as "OPNAME: what is wrong".  Every result dimension
 * must be at least 1 and every result small enough (IR_MAX_NUMEL): the IR has
 * no empty tensors. */
#include "ir.h"

#include <string.h>

/* ---- helpers ---- */

typedef struct {
    const Op *op;
    Diags *diags;
} Ctx;

static bool fail(const Ctx *cx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool fail(const Ctx *cx, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    diag_error(cx->diags, &cx->op->loc, "%s: %s", op_info[cx->op->kind].name, msg);
    return false;
}

static const Type *in_type(const Ctx *cx, int i)
{
    return &cx->op->inputs[i]->type;
}

/* A type of this rank whose dims the caller fills in. */
static Type shaped(int rank)
{
    Type t = {.dtype = DT_F32, .rank = rank};
    return t;
}

static const char *fmt_type(const Ctx *cx, const Type *t)
{
    return type_format(cx->diags->arena, t);
}

/* Checks that every dimension is positive and the element count is within
 * IR_MAX_NUMEL, without overflowing on the way. */
static bool check_result(const Ctx *cx, const Type *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++) {
        if (t->dims[i] < 1)
            return fail(cx, "result dimension %d would be %lld (result %s)", i,
                        (long long)t->dims[i], fmt_type(cx, t));
        if (t->dims[i] > IR_MAX_NUMEL || n > IR_MAX_NUMEL / t->dims[i])
            return fail(cx, "result %s has more than %lld elements", fmt_type(cx, t),
                        (long long)IR_MAX_NUMEL);
        n *= t->dims[i];
    }
    return true;
}

/* An ints attribute of exactly `count` entries, or `dflt` repeated when absent. */
static bool ints_attr(const Ctx *cx, const char *name, int count, int64_t dflt, int64_t *out)
{
    const int64_t *v;
    int n = ir_attr_ints(cx->op, name, &v);
    if (n < 0) {
        if (ir_attr(cx->op, name))
            return fail(cx, "attribute '%s' must be a list of ints", name);
        for (int i = 0; i < count; i++)
            out[i] = dflt;
        return true;
    }
    if (n != count)
        return fail(cx, "attribute '%s' has %d values, expected %d", name, n, count);
    memcpy(out, v, (size_t)count * sizeof *out);
    return true;
}

static bool int_attr(const Ctx *cx, const char *name, bool required, int64_t dflt, int64_t *out)
{
    const Attr *a = ir_attr(cx->op, name);
    *out = dflt;
    if (!a) {
        if (required)
            return fail(cx, "missing attribute '%s'", name);
        return true;
    }
    if (a->kind != ATTR_INT)
        return fail(cx, "attribute '%s' must be an int", name);
    *out = a->i;
    return true;
}

static bool axis_attr(const Ctx *cx, const char *name, int64_t limit, int64_t *axis)
{
    if (!int_attr(cx, name, true, 0, axis))
        return false;
    if (*axis < 0 || *axis >= limit)
        return fail(cx, "%s %lld is out of range [0, %lld)", name, (long long)*axis, (long long)limit);
    return true;
}

/* Multidirectional (numpy) broadcasting of a and b. */
static bool broadcast(const Ctx *cx, const Type *a, const Type *b, Type *out)
{
    int rank = a->rank > b->rank ? a->rank : b->rank;
    *out = shaped(rank);
    for (int i = 0; i < rank; i++) {
        int ia = i - (rank - a->rank), ib = i - (rank - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return fail(cx, "cannot broadcast %s and %s (dimension %d: %lld vs %lld)",
                        fmt_type(cx, a), fmt_type(cx, b), i, (long long)da, (long long)db);
        out->dims[i] = da == 1 ? db : da;
    }
    return true;
}

bool ir_axis_attr(const Op *op, int rank, Diags *diags, int64_t *axis)
{
    const Attr *a = ir_attr(op, "axis");
    if (!a || a->kind != ATTR_INT)
        return ir_op_error(op, diags, "missing attribute 'axis' (an int)");
    if (a->i < 0 || a->i >= rank)
        return ir_op_error(op, diags, "axis %lld is out of range [0, %d)", (long long)a->i, rank);
    *axis = a->i;
    return true;
}

bool ir_broadcast_types(const Op *op, const Type *a, const Type *b, Type *out, Diags *diags)
{
    Ctx cx = {op, diags};
    return broadcast(&cx, a, b, out);
}

/* ---- convolution and pooling ---- */

int64_t ir_window_out(int64_t in, int64_t pad_begin, int64_t pad_end, int64_t kernel, int64_t stride,
                      int64_t dilation, bool ceil_mode)
{
    if (in < 0 || pad_begin < 0 || pad_end < 0 || kernel < 1 || stride < 1 || dilation < 1 ||
        in > IR_MAX_NUMEL || pad_begin > IR_MAX_NUMEL || pad_end > IR_MAX_NUMEL || kernel > IR_MAX_NUMEL ||
        stride > IR_MAX_NUMEL || dilation > IR_MAX_NUMEL)
        return -1;
    /* Every term is at most 2^32, so only the window's extent can overflow. */
    int64_t extent;
    if (!i64_mul(kernel - 1, dilation, &extent))
        return -1;
    int64_t span = in + pad_begin + pad_end - 1 - extent;
    if (span < 0)
        return 0;
    return span / stride + (ceil_mode && span % stride != 0) + 1;
}

typedef struct {
    int n;                          /* spatial rank */
    int64_t kernel[IR_MAX_RANK], strides[IR_MAX_RANK], dilations[IR_MAX_RANK];
    int64_t pads[2 * IR_MAX_RANK];
    bool ceil_mode;
} Window;

static bool read_window(const Ctx *cx, int n, Window *w)
{
    w->n = n;
    int64_t ceil_mode = 0;
    if (!ints_attr(cx, "strides", n, 1, w->strides) || !ints_attr(cx, "pads", 2 * n, 0, w->pads) ||
        !ints_attr(cx, "dilations", n, 1, w->dilations) || !int_attr(cx, "ceil_mode", false, 0, &ceil_mode))
        return false;
    w->ceil_mode = ceil_mode != 0;
    for (int i = 0; i < n; i++) {
        if (w->strides[i] < 1 || w->strides[i] > IR_MAX_NUMEL)
            return fail(cx, "strides must be 1 to %lld (got %lld)", (long long)IR_MAX_NUMEL,
                        (long long)w->strides[i]);
        if (w->dilations[i] < 1 || w->dilations[i] > IR_MAX_NUMEL)
            return fail(cx, "dilations must be 1 to %lld (got %lld)", (long long)IR_MAX_NUMEL,
                        (long long)w->dilations[i]);
        for (int end = 0; end < 2; end++)
            if (w->pads[end * n + i] < 0 || w->pads[end * n + i] > IR_MAX_NUMEL)
                return fail(cx, "pads must be 0 to %lld (got %lld)", (long long)IR_MAX_NUMEL,
                            (long long)w->pads[end * n + i]);
    }
    return true;
}

/* Fills the spatial dims of `out` (already holding N and C) from x's. */
static bool window_dims(const Ctx *cx, const Type *x, const Window *w, Type *out)
{
    for (int i = 0; i < w->n; i++) {
        int64_t in = x->dims[2 + i];
        if (w->kernel[i] < 1 || w->kernel[i] > IR_MAX_NUMEL)
            return fail(cx, "kernel dimension %d is %lld", i, (long long)w->kernel[i]);
        int64_t o = ir_window_out(in, w->pads[i], w->pads[w->n + i], w->kernel[i], w->strides[i],
                                  w->dilations[i], w->ceil_mode);
        if (o < 0)
            return fail(cx, "window of %lld with dilation %lld is too large", (long long)w->kernel[i],
                        (long long)w->dilations[i]);
        if (o < 1)
            return fail(cx, "window of %lld (dilation %lld) does not fit spatial axis %d of size %lld "
                        "with pads %lld+%lld",
                        (long long)w->kernel[i], (long long)w->dilations[i], i, (long long)in,
                        (long long)w->pads[i], (long long)w->pads[w->n + i]);
        out->dims[2 + i] = o;
    }
    return true;
}

static bool infer_conv(const Ctx *cx, Type *out)
{
    const Type *x = in_type(cx, 0), *w = in_type(cx, 1);
    if (x->rank < 3)
        return fail(cx, "input %s must be N x C x D1... (rank 3 or more)", fmt_type(cx, x));
    if (w->rank != x->rank)
        return fail(cx, "weight %s must have the rank of the input %s", fmt_type(cx, w), fmt_type(cx, x));
    int64_t group;
    if (!int_attr(cx, "group", false, 1, &group))
        return false;
    if (group < 1)
        return fail(cx, "group must be positive (got %lld)", (long long)group);
    int64_t c = x->dims[1], m = w->dims[0], expects;
    if (!i64_mul(w->dims[1], group, &expects))
        return fail(cx, "group %lld is out of range (the input has %lld channels)", (long long)group, (long long)c);
    if (expects != c)
        return fail(cx, "input has %lld channels but weight expects %lld (group %lld)",
                    (long long)c, (long long)expects, (long long)group);
    if (m % group != 0)
        return fail(cx, "%lld output channels are not divisible by group %lld", (long long)m, (long long)group);
    if (cx->op->n_inputs == 3) {
        const Type *b = in_type(cx, 2);
        if (b->rank != 1 || b->dims[0] != m)
            return fail(cx, "bias %s must be f32[%lld]", fmt_type(cx, b), (long long)m);
    }
    Window win;
    if (!read_window(cx, x->rank - 2, &win))
        return false;
    win.ceil_mode = false;
    for (int i = 0; i < win.n; i++)
        win.kernel[i] = w->dims[2 + i];
    *out = *x;
    out->dims[1] = m;
    return window_dims(cx, x, &win, out);
}

static bool infer_pool(const Ctx *cx, Type *out)
{
    const Type *x = in_type(cx, 0);
    if (x->rank < 3)
        return fail(cx, "input %s must be N x C x D1... (rank 3 or more)", fmt_type(cx, x));
    Window win;
    if (!read_window(cx, x->rank - 2, &win))
        return false;
    if (!ir_attr(cx->op, "kernel"))
        return fail(cx, "missing attribute 'kernel'");
    if (!ints_attr(cx, "kernel", win.n, 1, win.kernel))
        return false;
    *out = *x;
    return window_dims(cx, x, &win, out);
}

static bool infer_global_pool(const Ctx *cx, Type *out)
{
    const Type *x = in_type(cx, 0);
    if (x->rank < 3)
        return fail(cx, "input %s must be N x C x D1... (rank 3 or more)", fmt_type(cx, x));
    *out = *x;
    for (int i = 2; i < x->rank; i++)
        out->dims[i] = 1;
    return true;
}

/* ---- matrix products ---- */

static bool infer_gemm(const Ctx *cx, Type *out)
{
    const Type *a = in_type(cx, 0), *b = in_type(cx, 1);
    if (a->rank != 2 || b->rank != 2)
        return fail(cx, "operands %s and %s must be 2-D", fmt_type(cx, a), fmt_type(cx, b));
    int64_t ta, tb;
    if (!int_attr(cx, "transA", false, 0, &ta) || !int_attr(cx, "transB", false, 0, &tb))
        return false;
    int64_t m = ta ? a->dims[1] : a->dims[0], k = ta ? a->dims[0] : a->dims[1];
    int64_t kb = tb ? b->dims[1] : b->dims[0], n = tb ? b->dims[0] : b->dims[1];
    if (k != kb)
        return fail(cx, "inner dimensions differ: A%s %s is %lld x %lld, B%s %s is %lld x %lld",
                    ta ? "'" : "", fmt_type(cx, a), (long long)m, (long long)k, tb ? "'" : "",
                    fmt_type(cx, b), (long long)kb, (long long)n);
    int64_t mn[2] = {m, n};
    *out = type_make(2, mn);
    if (cx->op->n_inputs == 3) {
        /* C broadcasts one way, to [M, N]. */
        const Type *c = in_type(cx, 2);
        bool ok = c->rank <= 2;
        for (int i = 0; ok && i < c->rank; i++) {
            int64_t want = mn[2 - c->rank + i];
            ok = c->dims[i] == 1 || c->dims[i] == want;
        }
        if (!ok)
            return fail(cx, "C %s does not broadcast to [%lld, %lld]", fmt_type(cx, c), (long long)m, (long long)n);
    }
    return true;
}

static bool infer_matmul(const Ctx *cx, Type *out)
{
    Type a = *in_type(cx, 0), b = *in_type(cx, 1);
    if (a.rank < 1 || b.rank < 1)
        return fail(cx, "operands %s and %s must not be scalars", fmt_type(cx, &a), fmt_type(cx, &b));
    bool a_vec = a.rank == 1, b_vec = b.rank == 1;
    if (a_vec) {            /* [K] -> [1, K] */
        a.dims[1] = a.dims[0];
        a.dims[0] = 1;
        a.rank = 2;
    }
    if (b_vec) {            /* [K] -> [K, 1] */
        b.dims[1] = 1;
        b.rank = 2;
    }
    int64_t m = a.dims[a.rank - 2], k = a.dims[a.rank - 1];
    int64_t kb = b.dims[b.rank - 2], n = b.dims[b.rank - 1];
    if (k != kb)
        return fail(cx, "inner dimensions differ: %s x %s (%lld vs %lld)", fmt_type(cx, in_type(cx, 0)),
                    fmt_type(cx, in_type(cx, 1)), (long long)k, (long long)kb);
    Type batch_a = type_make(a.rank - 2, a.dims), batch_b = type_make(b.rank - 2, b.dims), batch;
    if (!broadcast(cx, &batch_a, &batch_b, &batch))
        return false;
    *out = batch;
    if (!a_vec)
        out->dims[out->rank++] = m;
    if (!b_vec)
        out->dims[out->rank++] = n;
    return true;
}

static bool infer_batchnorm(const Ctx *cx, Type *out)
{
    const Type *x = in_type(cx, 0);
    static const char *const names[] = {"", "scale", "bias", "mean", "var"};
    if (x->rank < 2)
        return fail(cx, "input %s must be N x C x ... (rank 2 or more)", fmt_type(cx, x));
    for (int i = 1; i < 5; i++) {
        const Type *p = in_type(cx, i);
        if (p->rank != 1 || p->dims[0] != x->dims[1])
            return fail(cx, "%s %s must be f32[%lld] (input has %lld channels)", names[i],
                        fmt_type(cx, p), (long long)x->dims[1], (long long)x->dims[1]);
    }
    *out = *x;
    return true;
}

/* ---- shape manipulation ---- */

static bool infer_concat(const Ctx *cx, Type *out)
{
    const Type *first = in_type(cx, 0);
    int64_t axis;
    if (!axis_attr(cx, "axis", first->rank, &axis))
        return false;
    *out = *first;
    for (int i = 1; i < cx->op->n_inputs; i++) {
        const Type *t = in_type(cx, i);
        if (t->rank != first->rank)
            return fail(cx, "input %d %s has not the rank of input 0 %s", i, fmt_type(cx, t), fmt_type(cx, first));
        for (int d = 0; d < t->rank; d++)
            if (d != axis && t->dims[d] != first->dims[d])
                return fail(cx, "input %d %s differs from input 0 %s outside axis %lld", i,
                            fmt_type(cx, t), fmt_type(cx, first), (long long)axis);
        if (!i64_add(out->dims[axis], t->dims[axis], &out->dims[axis]))
            return fail(cx, "inputs are too long along axis %lld", (long long)axis);
    }
    return true;
}

static bool infer_flatten(const Ctx *cx, Type *out)
{
    const Type *x = in_type(cx, 0);
    int64_t axis;
    if (!int_attr(cx, "axis", false, 1, &axis))
        return false;
    if (axis < 0 || axis > x->rank)
        return fail(cx, "axis %lld is out of range [0, %d]", (long long)axis, x->rank);
    int64_t dims[2] = {1, 1};
    for (int i = 0; i < x->rank; i++)
        dims[i >= axis] *= x->dims[i];
    *out = type_make(2, dims);
    return true;
}

static bool infer_reshape(const Ctx *cx, Type *out)
{
    const Type *x = in_type(cx, 0);
    const int64_t *shape;
    int n = ir_attr_ints(cx->op, "shape", &shape);
    if (n < 0)
        return fail(cx, "missing attribute 'shape' (a list of ints)");
    if (n > IR_MAX_RANK)
        return fail(cx, "shape has rank %d, more than %d", n, IR_MAX_RANK);
    *out = type_make(n, shape);
    if (!check_result(cx, out))
        return false;
    if (type_numel(out) != type_numel(x))
        return fail(cx, "cannot reshape %s (%lld elements) to %s (%lld elements)", fmt_type(cx, x),
                    (long long)type_numel(x), fmt_type(cx, out), (long long)type_numel(out));
    return true;
}

/* Checks that `axes` (count of them) are distinct and in [0, limit). */
static bool check_axes(const Ctx *cx, const char *what, const int64_t *axes, int count, int limit)
{
    bool seen[IR_MAX_RANK] = {false};
    for (int i = 0; i < count; i++) {
        if (axes[i] < 0 || axes[i] >= limit)
            return fail(cx, "%s %lld is out of range [0, %d)", what, (long long)axes[i], limit);
        if (seen[axes[i]])
            return fail(cx, "%s %lld is repeated", what, (long long)axes[i]);
        seen[axes[i]] = true;
    }
    return true;
}

static bool infer_transpose(const Ctx *cx, Type *out)
{
    const Type *x = in_type(cx, 0);
    int64_t perm[IR_MAX_RANK];
    const int64_t *p;
    int n = ir_attr_ints(cx->op, "perm", &p);
    if (n < 0) {
        if (ir_attr(cx->op, "perm"))
            return fail(cx, "attribute 'perm' must be a list of ints");
        for (int i = 0; i < x->rank; i++)
            perm[i] = x->rank - 1 - i;
    } else {
        if (n != x->rank)
            return fail(cx, "perm has %d entries but the input %s has rank %d", n, fmt_type(cx, x), x->rank);
        memcpy(perm, p, (size_t)n * sizeof *perm);
    }
    if (!check_axes(cx, "perm entry", perm, x->rank, x->rank))
        return false;
    *out = shaped(x->rank);
    for (int i = 0; i < x->rank; i++)
        out->dims[i] = x->dims[perm[i]];
    return true;
}

static bool infer_squeeze(const Ctx *cx, Type *out)
{
    const Type *x = in_type(cx, 0);
    bool drop[IR_MAX_RANK] = {false};
    const int64_t *axes;
    int n = ir_attr_ints(cx->op, "axes", &axes);
    if (n < 0) {
        if (ir_attr(cx->op, "axes"))
            return fail(cx, "attribute 'axes' must be a list of ints");
        for (int i = 0; i < x->rank; i++)
            drop[i] = x->dims[i] == 1;
    } else {
        if (!check_axes(cx, "axis", axes, n, x->rank))
            return false;
        for (int i = 0; i < n; i++) {
            if (x->dims[axes[i]] != 1)
                return fail(cx, "cannot squeeze axis %lld of %s: its size is %lld, not 1", (long long)axes[i],
                            fmt_type(cx, x), (long long)x->dims[axes[i]]);
            drop[axes[i]] = true;
        }
    }
    *out = shaped(0);
    for (int i = 0; i < x->rank; i++)
        if (!drop[i])
            out->dims[out->rank++] = x->dims[i];
    return true;
}

static bool infer_unsqueeze(const Ctx *cx, Type *out)
{
    const Type *x = in_type(cx, 0);
    const int64_t *axes;
    int n = ir_attr_ints(cx->op, "axes", &axes);
    if (n < 0)
        return fail(cx, "missing attribute 'axes' (a list of ints)");
    if (n > IR_MAX_RANK)
        return fail(cx, "%d axes, more than %d", n, IR_MAX_RANK);
    int rank = x->rank + n;
    if (rank > IR_MAX_RANK)
        return fail(cx, "result rank %d is more than %d", rank, IR_MAX_RANK);
    if (!check_axes(cx, "axis", axes, n, rank))
        return false;
    bool inserted[IR_MAX_RANK] = {false};
    for (int i = 0; i < n; i++)
        inserted[axes[i]] = true;
    *out = shaped(rank);
    for (int i = 0, j = 0; i < rank; i++)
        out->dims[i] = inserted[i] ? 1 : x->dims[j++];
    return true;
}

static bool infer_pad(const Ctx *cx, Type *out)
{
    const Type *x = in_type(cx, 0);
    const int64_t *pads;
    int n = ir_attr_ints(cx->op, "pads", &pads);
    if (n < 0)
        return fail(cx, "missing attribute 'pads' (a list of ints)");
    if (n != 2 * x->rank)
        return fail(cx, "pads has %d entries, expected %d for input %s", n, 2 * x->rank, fmt_type(cx, x));
    *out = *x;
    for (int i = 0; i < x->rank; i++) {
        /* Negative pads crop; bounded, the kernel's index arithmetic cannot overflow. */
        int64_t lo = pads[i], hi = pads[x->rank + i];
        if (lo < -IR_MAX_NUMEL || lo > IR_MAX_NUMEL || hi < -IR_MAX_NUMEL || hi > IR_MAX_NUMEL)
            return fail(cx, "pads %lld and %lld of axis %d are out of range (-%lld to %lld)", (long long)lo,
                        (long long)hi, i, (long long)IR_MAX_NUMEL, (long long)IR_MAX_NUMEL);
        out->dims[i] = x->dims[i] + lo + hi;
    }
    return true;
}

static bool infer_softmax(const Ctx *cx, Type *out)
{
    const Type *x = in_type(cx, 0);
    int64_t axis;
    if (x->rank < 1)
        return fail(cx, "input must not be a scalar");
    if (!axis_attr(cx, "axis", x->rank, &axis))
        return false;
    *out = *x;
    return true;
}

/* ---- entry ---- */

bool ir_infer_type(const Op *op, Type *result, Diags *diags)
{
    Ctx cx = {op, diags};
    const OpInfo *info = &op_info[op->kind];
    if (op->n_inputs < info->min_inputs || op->n_inputs > info->max_inputs) {
        if (info->min_inputs == info->max_inputs)
            return fail(&cx, "takes %d inputs, got %d", info->min_inputs, op->n_inputs);
        return fail(&cx, "takes %d to %d inputs, got %d", info->min_inputs, info->max_inputs, op->n_inputs);
    }
    Type t = {0};
    bool ok;
    switch (op->kind) {
    case OP_CONV: ok = infer_conv(&cx, &t); break;
    case OP_GEMM: ok = infer_gemm(&cx, &t); break;
    case OP_MATMUL: ok = infer_matmul(&cx, &t); break;
    case OP_BATCHNORM: ok = infer_batchnorm(&cx, &t); break;
    case OP_MAXPOOL:
    case OP_AVGPOOL: ok = infer_pool(&cx, &t); break;
    case OP_GLOBALAVGPOOL:
    case OP_GLOBALMAXPOOL: ok = infer_global_pool(&cx, &t); break;
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
    case OP_DIV: ok = broadcast(&cx, in_type(&cx, 0), in_type(&cx, 1), &t); break;
    case OP_CONCAT: ok = infer_concat(&cx, &t); break;
    case OP_FLATTEN: ok = infer_flatten(&cx, &t); break;
    case OP_RESHAPE: ok = infer_reshape(&cx, &t); break;
    case OP_TRANSPOSE: ok = infer_transpose(&cx, &t); break;
    case OP_SQUEEZE: ok = infer_squeeze(&cx, &t); break;
    case OP_UNSQUEEZE: ok = infer_unsqueeze(&cx, &t); break;
    case OP_PAD: ok = infer_pad(&cx, &t) && infer_pad_mode(op, diags); break;
    case OP_SOFTMAX:
    case OP_LOGSOFTMAX: ok = infer_softmax(&cx, &t); break;
    case OP_RELU:
    case OP_LEAKYRELU:
    case OP_CLIP:
    case OP_SIGMOID:
    case OP_TANH:
    case OP_HARDSIGMOID:
    case OP_IDENTITY:
    case OP_DROPOUT: t = *in_type(&cx, 0); ok = true; break;
    case OP_XBAR: ok = xbar_infer_type(op, &t, diags); break;
    case OP_SQRT: case OP_EXP: case OP_LOG: case OP_ERF: case OP_NEG: case OP_RECIPROCAL: case OP_ABS:
    case OP_FLOOR: case OP_CEIL: case OP_ROUND: case OP_SOFTPLUS: case OP_SOFTSIGN: case OP_HARDSWISH:
    case OP_ELU: case OP_SELU: case OP_CELU: case OP_PRELU: case OP_POW: case OP_MAX: case OP_MIN:
    case OP_MEAN: case OP_SUM: case OP_REDUCEMEAN: case OP_REDUCESUM: case OP_REDUCEMAX: case OP_REDUCEMIN:
    case OP_REDUCEPROD: case OP_REDUCEL1: case OP_REDUCEL2: case OP_REDUCESUMSQUARE: case OP_REDUCELOGSUM:
    case OP_EQUAL: case OP_LESS: case OP_GREATER: case OP_LESSOREQUAL: case OP_GREATEROREQUAL: case OP_NOT:
    case OP_AND: case OP_OR: case OP_XOR: case OP_WHERE:
    case OP_SIN: case OP_COS: case OP_TAN: case OP_ASIN: case OP_ACOS: case OP_ATAN: case OP_SINH: case OP_COSH:
    case OP_ASINH: case OP_ACOSH: case OP_ATANH: case OP_SIGN: case OP_THRESHOLDEDRELU: case OP_SHRINK:
    case OP_HARDMAX: case OP_LRN: case OP_DET:
    case OP_REDUCELOGSUMEXP: case OP_LAYERNORM: case OP_INSTANCENORM: ok = infer_math_type(op, &t, diags); break;
    case OP_CONVTRANSPOSE: case OP_DILATE: case OP_RESIZE: case OP_SLICE: case OP_TILE: case OP_GRIDSAMPLE:
        ok = infer_layout_type(op, &t, diags);
        break;
    case OP_CAST: case OP_MOD: case OP_ARGMAX: case OP_ARGMIN: case OP_GATHER: case OP_GATHERELEMENTS:
    case OP_TRILU: case OP_CUMSUM: case OP_TOPK: case OP_SCATTERND: case OP_SCATTERELEMENTS:
        ok = infer_index_type(op, &t, diags);
        break;
    default: return fail(&cx, "no shape rule for this op");
    }
    if (!ok || !check_result(&cx, &t) || !infer_dtype(op, &t.dtype, diags))
        return false;
    *result = t;
    return true;
}
