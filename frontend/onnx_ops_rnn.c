/* onnx_ops_rnn.c: LSTM, GRU and RNN, unrolled at import.
 *
 * Shapes are static, so the sequence length is known and each recurrent node
 * becomes plain IR ops, one group per time step (issue 11, section 3): the
 * input projection of every step is one matmul X W^T (with the biases), the
 * recurrent one a matmul h_{t-1} R^T per step, and the gates are sigmoid,
 * tanh, mul, add and sub.  W and R known at import are transposed here into
 * constants, so that lower-xbar maps them onto crossbars (a constant right
 * operand); run-time W and R (ONNX's node tests feed them) are sliced and
 * transposed by ops and stay digital.  Hidden states are carried as
 * [1, batch, hidden], so that every step's ops keep rank 3. */
#include "frontend/onnx_node.h"

#include <string.h>

enum { RNN_MAX_STEPS = 10000 };    /* seq_len x directions: the unrolled graph's size */

typedef enum { CELL_RNN, CELL_GRU, CELL_LSTM } Cell;

typedef struct {
    const OnnxNode *n;
    Cell cell;
    int gates;                  /* 1, 3 or 4 blocks of hidden rows in W, R */
    int dirs;
    int64_t seq, batch, in, hid;
    bool lbr;                   /* GRU linear_before_reset */
    bool has_clip;
    float clip;
} Rnn;

static const char *fresh(const Rnn *r, const char *stem)
{
    return onnx_fresh_name(r->n->imp, arena_printf(r->n->g->arena, "%s.%s", r->n->output, stem));
}

static Value *op1(const Rnn *r, OpKind kind, Value *a, const char *stem)
{
    return a ? onnx_typed(r->n, onnx_emit(r->n, kind, &a, 1, fresh(r, stem))) : NULL;
}

static Value *op2(const Rnn *r, OpKind kind, Value *a, Value *b, const char *stem)
{
    Value *in[2] = {a, b};
    return a && b ? onnx_typed(r->n, onnx_emit(r->n, kind, in, 2, fresh(r, stem))) : NULL;
}

/* x[.., start:start+len, ..] on one axis. */
static Value *slice_axis(const Rnn *r, Value *x, int axis, int64_t start, int64_t len, const char *stem)
{
    if (!x)
        return NULL;
    int64_t starts[IR_MAX_RANK], ends[IR_MAX_RANK], steps[IR_MAX_RANK];
    for (int a = 0; a < x->type.rank; a++) {
        starts[a] = a == axis ? start : 0;
        ends[a] = a == axis ? start + len : x->type.dims[a];
        steps[a] = 1;
    }
    Op *op = onnx_emit(r->n, OP_SLICE, &x, 1, fresh(r, stem));
    ir_set_ints(r->n->g, op, "ends", ends, x->type.rank);
    ir_set_ints(r->n->g, op, "starts", starts, x->type.rank);
    ir_set_ints(r->n->g, op, "steps", steps, x->type.rank);
    return onnx_typed(r->n, op);
}

static Value *transpose(const Rnn *r, Value *x, const int64_t *perm, const char *stem)
{
    if (!x)
        return NULL;
    Op *op = onnx_emit(r->n, OP_TRANSPOSE, &x, 1, fresh(r, stem));
    ir_set_ints(r->n->g, op, "perm", perm, x->type.rank);
    return onnx_typed(r->n, op);
}

static Value *unsqueeze(const Rnn *r, Value *x, int64_t axis, const char *stem)
{
    if (!x)
        return NULL;
    Op *op = onnx_emit(r->n, OP_UNSQUEEZE, &x, 1, fresh(r, stem));
    ir_set_ints(r->n->g, op, "axes", &axis, 1);
    return onnx_typed(r->n, op);
}

static Value *clipped(const Rnn *r, Value *x)
{
    if (!x || !r->has_clip)
        return x;
    Op *op = onnx_emit(r->n, OP_CLIP, &x, 1, fresh(r, "clip"));
    ir_set_float(r->n->g, op, "max", r->clip);
    ir_set_float(r->n->g, op, "min", -r->clip);
    return onnx_typed(r->n, op);
}

/* Concatenation of count values on `axis`, in groups (the concat op takes at
 * most 64 inputs). */
static Value *concat_all(const Rnn *r, Value **v, int64_t count, int64_t axis, const char *stem)
{
    while (count > 1) {
        int64_t out = 0;
        for (int64_t i = 0; i < count; i += 64) {
            int k = (int)(count - i < 64 ? count - i : 64);
            for (int j = 0; j < k; j++)
                if (!v[i + j])
                    return NULL;
            if (k == 1) {       /* a lone tail needs no op */
                v[out++] = v[i];
                continue;
            }
            Op *op = onnx_emit(r->n, OP_CONCAT, v + i, k, fresh(r, stem));
            ir_set_int(r->n->g, op, "axis", axis);
            if (!(v[out++] = onnx_typed(r->n, op)))
                return NULL;
        }
        count = out;
    }
    return v[0];
}

/* The transpose of W or R (input idx) of direction d, rows row0..row0+rows:
 * [cols, rows] as a constant when known at import, else [1, cols, rows] by
 * slice and transpose ops (matmul broadcasts the leading 1). */
static Value *weight_t(const Rnn *r, int idx, int d, int64_t row0, int64_t rows, const char *stem)
{
    const OnnxNode *n = r->n;
    const OnnxConst *k = n->inputs[idx].konst;
    if (k && k->f) {
        int64_t total = k->dims[1], cols = k->dims[2];
        float *data = arena_array(n->g->arena, (size_t)(rows * cols) + 1, sizeof(float));
        for (int64_t j = 0; j < rows; j++)
            for (int64_t c = 0; c < cols; c++)
                data[c * rows + j] = k->f[((int64_t)d * total + row0 + j) * cols + c];
        Type t = {.dtype = DT_F32, .rank = 2, .dims = {cols, rows}};
        return ir_add_const_taking(n->g, fresh(r, stem), t, data);
    }
    Value *w = onnx_data_input(n, idx);
    w = slice_axis(r, slice_axis(r, w, 0, d, 1, stem), 1, row0, rows, stem);
    static const int64_t perm[3] = {0, 2, 1};
    return transpose(r, w, perm, stem);
}

/* B or P (input idx)[d, off:off+len]: [len] when known at import, else [1, len]. */
static Value *row_param(const Rnn *r, int idx, int d, int64_t off, int64_t len, const char *stem)
{
    const OnnxNode *n = r->n;
    const OnnxConst *k = n->inputs[idx].konst;
    if (k && k->f) {
        Type t = {.dtype = DT_F32, .rank = 1, .dims = {len}};
        return ir_add_const(n->g, fresh(r, stem), t, k->f + (int64_t)d * k->dims[1] + off);
    }
    return slice_axis(r, slice_axis(r, onnx_data_input(n, idx), 0, d, 1, stem), 1, off, len, stem);
}

/* An LSTM gate's pre-activation plus its peephole term p (.) c when P is given. */
static Value *peephole(const Rnn *r, Value *pre, Value *p, Value *c, const char *stem)
{
    return p ? op2(r, OP_ADD, pre, op2(r, OP_MUL, p, c, stem), stem) : pre;
}

/* initial_h / initial_c (input idx, [dirs, batch, hidden] after the layout)
 * of direction d as [1, batch, hidden]; zeros when absent. */
static Value *initial(const Rnn *r, Value *init, int d, const char *stem)
{
    if (init)
        return slice_axis(r, init, 0, d, 1, stem);
    Type t = {.dtype = DT_F32, .rank = 3, .dims = {1, r->batch, r->hid}};
    return ir_add_const(r->n->g, fresh(r, stem), t, NULL);
}

/* One direction: fills ys[t] ([1, 1, batch, hidden], when wanted), *h_out and *c_out. */
static bool run_direction(const Rnn *r, Value *x, Value *init_h, Value *init_c, int d, bool reverse, Value **ys,
                          Value **h_out, Value **c_out)
{
    const OnnxNode *n = r->n;
    int64_t h = r->hid, gh = r->gates * h;
    bool has_b = onnx_has_input(n, 3);
    /* The input projection of all steps at once; every bias but GRU's
     * recurrent one with linear_before_reset joins it. */
    Value *xw = op2(r, OP_MATMUL, x, weight_t(r, 1, d, 0, gh, "WT"), "xw");
    Value *rb = NULL;
    if (has_b) {
        xw = op2(r, OP_ADD, xw, row_param(r, 3, d, 0, gh, "Wb"), "xwb");
        rb = row_param(r, 3, d, gh, gh, "Rb");
        if (!(r->cell == CELL_GRU && r->lbr))
            xw = op2(r, OP_ADD, xw, rb, "xwb");
    }
    Value *rt = NULL, *rt_h = NULL;
    if (r->cell == CELL_GRU && !r->lbr) {   /* the candidate's R multiplies r (.) h: its own matrix */
        rt = weight_t(r, 2, d, 0, 2 * h, "RT");
        rt_h = weight_t(r, 2, d, 2 * h, h, "RT");
    } else {
        rt = weight_t(r, 2, d, 0, gh, "RT");
    }
    Value *hv = initial(r, init_h, d, "h0");
    Value *cv = r->cell == CELL_LSTM ? initial(r, init_c, d, "c0") : NULL;
    Value *p[3] = {NULL, NULL, NULL};     /* LSTM peepholes i, o, f */
    for (int k = 0; r->cell == CELL_LSTM && onnx_has_input(n, 7) && k < 3; k++)
        if (!(p[k] = row_param(r, 7, d, k * h, h, "P")))
            return false;
    if (!xw || !rt || !hv || (r->cell == CELL_GRU && !r->lbr && !rt_h) || (r->cell == CELL_LSTM && !cv))
        return false;
    for (int64_t s = 0; s < r->seq; s++) {
        int64_t t = reverse ? r->seq - 1 - s : s;
        Value *xt = slice_axis(r, xw, 0, t, 1, "x");
        if (r->cell == CELL_RNN) {
            hv = op1(r, OP_TANH, clipped(r, op2(r, OP_ADD, xt, op2(r, OP_MATMUL, hv, rt, "hr"), "pre")), "h");
        } else if (r->cell == CELL_LSTM) {    /* gate blocks i, o, f, c */
            /* Peepholes see c_{t-1} (i, f) and c_t (o); the clip comes after them. */
            Value *g = op2(r, OP_ADD, xt, op2(r, OP_MATMUL, hv, rt, "hr"), "pre");
            Value *gi = op1(r, OP_SIGMOID, clipped(r, peephole(r, slice_axis(r, g, 2, 0, h, "i"), p[0], cv, "pi")), "i");
            Value *gf = op1(r, OP_SIGMOID, clipped(r, peephole(r, slice_axis(r, g, 2, 2 * h, h, "f"), p[2], cv, "pf")),
                            "f");
            Value *gc = op1(r, OP_TANH, clipped(r, slice_axis(r, g, 2, 3 * h, h, "g")), "g");
            cv = op2(r, OP_ADD, op2(r, OP_MUL, gf, cv, "fc"), op2(r, OP_MUL, gi, gc, "ig"), "c");
            Value *go = op1(r, OP_SIGMOID, clipped(r, peephole(r, slice_axis(r, g, 2, h, h, "o"), p[1], cv, "po")), "o");
            hv = op2(r, OP_MUL, go, op1(r, OP_TANH, clipped(r, cv), "tc"), "h");
        } else {                              /* GRU: gate blocks z, r, h */
            Value *xzr = slice_axis(r, xt, 2, 0, 2 * h, "xzr"), *xh = slice_axis(r, xt, 2, 2 * h, h, "xh");
            Value *zr, *cand;
            if (r->lbr) {
                Value *hr = op2(r, OP_MATMUL, hv, rt, "hr");
                if (rb)
                    hr = op2(r, OP_ADD, hr, rb, "hrb");
                zr = op1(r, OP_SIGMOID, clipped(r, op2(r, OP_ADD, xzr, slice_axis(r, hr, 2, 0, 2 * h, "hzr"), "zr")), "zr");
                Value *rg = slice_axis(r, zr, 2, h, h, "r");
                cand = op2(r, OP_ADD, xh, op2(r, OP_MUL, rg, slice_axis(r, hr, 2, 2 * h, h, "hh"), "rh"), "pre");
            } else {
                zr = op1(r, OP_SIGMOID, clipped(r, op2(r, OP_ADD, xzr, op2(r, OP_MATMUL, hv, rt, "hzr"), "zr")), "zr");
                Value *rg = slice_axis(r, zr, 2, h, h, "r");
                cand = op2(r, OP_ADD, xh, op2(r, OP_MATMUL, op2(r, OP_MUL, rg, hv, "rh"), rt_h, "rhr"), "pre");
            }
            Value *z = slice_axis(r, zr, 2, 0, h, "z");
            Value *hh = op1(r, OP_TANH, clipped(r, cand), "hh");
            /* (1 - z) hh + z h = hh + z (h - hh) */
            hv = op2(r, OP_ADD, hh, op2(r, OP_MUL, z, op2(r, OP_SUB, hv, hh, "dh"), "zdh"), "h");
        }
        if (!hv || (r->cell == CELL_LSTM && !cv))
            return false;
        if (ys && !(ys[t] = unsqueeze(r, hv, 1, "y")))
            return false;
    }
    *h_out = hv;
    *c_out = cv;
    return true;
}

/* A graph value for an optional input (NULL when absent), with layout 1's
 * batch-major [batch, dirs, hidden] made [dirs, batch, hidden]. */
static bool state_input(const Rnn *r, int idx, int64_t layout, Value **out)
{
    *out = NULL;
    if (!onnx_has_input(r->n, idx))
        return true;
    Value *v = onnx_data_input(r->n, idx);
    static const int64_t swap[3] = {1, 0, 2};
    if (v && layout == 1)
        v = transpose(r, v, swap, "state");
    int64_t want[3] = {r->dirs, r->batch, r->hid};
    if (v && (v->type.rank != 3 || memcmp(v->type.dims, want, sizeof want) != 0)) {
        onnx_fail(r->n, "input %d ('%s') is %s, not [%lld, %lld, %lld] (directions, batch, hidden_size)", idx,
                  r->n->inputs[idx].name, type_format(r->n->g->arena, &v->type), (long long)want[0],
                  (long long)want[1], (long long)want[2]);
        return false;
    }
    *out = v;
    return v != NULL;
}

/* Checks W (idx 1), R (2) or B (3): [dirs, rows, cols]. */
static bool check_param(const Rnn *r, int idx, int rank, int64_t rows, int64_t cols)
{
    const OnnxInput *in = &r->n->inputs[idx];
    const Type *t = in->value ? &in->value->type : NULL;
    int64_t dims[3] = {r->dirs, rows, cols};
    if (in->konst && !in->konst->f) {
        onnx_fail(r->n, "'%s' has element type %s, which is not supported", in->name,
                  onnx_elem_type_name(in->konst->elem_type));
        return false;
    }
    int got_rank = in->konst ? in->konst->rank : t ? t->rank : -1;
    const int64_t *got = in->konst ? in->konst->dims : t ? t->dims : NULL;
    if (!got) {
        onnx_data_input(r->n, idx);
        return false;
    }
    if (got_rank != rank || memcmp(got, dims, (size_t)rank * sizeof(int64_t)) != 0) {
        static const char *const names[] = {"X", "W", "R", "B", "", "", "", "P"};
        if (rank == 2)
            onnx_fail(r->n, "%s ('%s') must be [%lld, %lld]", names[idx], in->name, (long long)dims[0], (long long)dims[1]);
        else
            onnx_fail(r->n, "%s ('%s') must be [%lld, %lld, %lld]", names[idx], in->name, (long long)dims[0],
                      (long long)dims[1], (long long)dims[2]);
        return false;
    }
    return true;
}

/* The attributes and inputs this lowering does not support, refused. */
static bool check_supported(const OnnxNode *n, Cell cell, const char *op_type)
{
    const OnnxAttr *act = onnx_attr(n, "activations");
    if (act) {
        static const char *const defaults[][3] = {{"Tanh"}, {"Sigmoid", "Tanh"}, {"Sigmoid", "Tanh", "Tanh"}};
        int per_dir = cell == CELL_RNN ? 1 : cell == CELL_GRU ? 2 : 3;
        bool ok = act->kind == OA_STRINGS && act->count > 0 && act->count % per_dir == 0;
        for (int i = 0; ok && i < act->count; i++)
            ok = strcmp(act->strings[i], defaults[cell][i % per_dir]) == 0;
        if (!ok)
            return onnx_fail(n, "%s activations other than the defaults (Sigmoid, Tanh) are not supported", op_type),
                   false;
    }
    if (onnx_attr(n, "activation_alpha") || onnx_attr(n, "activation_beta"))
        return onnx_fail(n, "%s with activation_alpha or activation_beta is not supported", op_type), false;
    int64_t input_forget;
    if (!onnx_get_int(n, "input_forget", 0, &input_forget))
        return false;
    if (input_forget != 0)
        return onnx_fail(n, "LSTM input_forget=%lld is not supported (0 is)", (long long)input_forget), false;
    int max_in = cell == CELL_LSTM ? 8 : 6;
    if (n->n_inputs > max_in)
        return onnx_fail(n, "%s has %d inputs, at most %d", op_type, n->n_inputs, max_in), false;
    int max_out = cell == CELL_LSTM ? 3 : 2;
    if (n->n_outputs > max_out)
        return onnx_fail(n, "%s has %d outputs, at most %d", op_type, n->n_outputs, max_out), false;
    return true;
}

/* sequence_lens must be known and all equal to seq_len (no per-batch lengths). */
static bool check_seq_lens(const Rnn *r)
{
    if (!onnx_has_input(r->n, 4))
        return true;
    const OnnxConst *k = onnx_const_input(r->n, 4, "sequence_lens");
    if (!k)
        return false;
    if (k->numel != r->batch || !k->i)
        return onnx_fail(r->n, "sequence_lens must be %lld integers", (long long)r->batch), false;
    for (int64_t b = 0; b < k->numel; b++)
        if (k->i[b] != r->seq)
            return onnx_fail(r->n, "sequence_lens[%lld] = %lld: lengths other than seq_length (%lld) are not supported",
                             (long long)b, (long long)k->i[b], (long long)r->seq),
                   false;
    return true;
}

/* Names the final value of output k (a fresh name stays for an output left out). */
static void name_output(const OnnxNode *n, int k, Value *v)
{
    if (v && k < n->n_outputs && n->outputs[k][0]) {
        v->name = arena_strdup(n->g->arena, n->outputs[k]);
        n->results[k] = v;
    }
}

Value *onnx_lower_rnn(const OnnxNode *n, const char *op_type)
{
    Cell cell = strcmp(op_type, "LSTM") == 0 ? CELL_LSTM : strcmp(op_type, "GRU") == 0 ? CELL_GRU : CELL_RNN;
    Rnn r = {.n = n, .cell = cell, .gates = cell == CELL_LSTM ? 4 : cell == CELL_GRU ? 3 : 1};
    int64_t hidden, layout, lbr;
    const char *direction;
    if (!check_supported(n, cell, op_type) || !onnx_get_int(n, "hidden_size", 0, &hidden) ||
        !onnx_get_int(n, "layout", 0, &layout) || !onnx_get_int(n, "linear_before_reset", 0, &lbr) ||
        !onnx_get_string(n, "direction", "forward", &direction))
        return NULL;
    if (onnx_attr(n, "clip") && !onnx_get_float(n, "clip", 0.0f, &r.clip))
        return NULL;
    r.has_clip = onnx_attr(n, "clip") != NULL;
    if (r.has_clip && !(r.clip > 0.0f))
        return onnx_fail(n, "clip must be positive, not %g", (double)r.clip);
    if (layout != 0 && layout != 1)
        return onnx_fail(n, "layout %lld is not supported (0 and 1 are)", (long long)layout);
    if (lbr != 0 && lbr != 1)
        return onnx_fail(n, "linear_before_reset %lld is not supported (0 and 1 are)", (long long)lbr);
    r.lbr = lbr == 1;
    bool fwd = strcmp(direction, "forward") == 0, rev = strcmp(direction, "reverse") == 0;
    if (!fwd && !rev && strcmp(direction, "bidirectional") != 0)
        return onnx_fail(n, "direction '%s' is not supported (forward, reverse, bidirectional)", direction);
    r.dirs = fwd || rev ? 1 : 2;
    Value *x = onnx_data_input(n, 0);
    if (!x || !onnx_has_input(n, 1) || !onnx_has_input(n, 2))
        return x ? onnx_fail(n, "%s needs inputs W and R", op_type) : NULL;
    if (x->type.rank != 3)
        return onnx_fail(n, "X ('%s') is %s, not rank 3", n->inputs[0].name, type_format(n->g->arena, &x->type));
    static const int64_t swap[3] = {1, 0, 2};
    if (layout == 1)    /* batch-major: [batch, seq, input] -> [seq, batch, input] */
        x = transpose(&r, x, swap, "X");
    if (!x)
        return NULL;
    r.seq = x->type.dims[0];
    r.batch = x->type.dims[1];
    r.in = x->type.dims[2];
    r.hid = hidden;
    if (hidden < 1 || hidden > IR_MAX_NUMEL / 8)
        return onnx_fail(n, "hidden_size %lld is not supported", (long long)hidden);
    int64_t gh = r.gates * hidden;
    if (r.seq * r.dirs > RNN_MAX_STEPS)
        return onnx_fail(n, "%s over %lld steps x %d directions is not supported: unrolled at import, at most %d steps",
                         op_type, (long long)r.seq, r.dirs, RNN_MAX_STEPS);
    if (!check_param(&r, 1, 3, gh, r.in) || !check_param(&r, 2, 3, gh, hidden) ||
        (onnx_has_input(n, 3) && !check_param(&r, 3, 2, 2 * gh, 0)) ||
        (cell == CELL_LSTM && onnx_has_input(n, 7) && !check_param(&r, 7, 2, 3 * hidden, 0)) || !check_seq_lens(&r))
        return NULL;
    /* The largest tensors: the input projections, and the transposed weights. */
    if (!memory_check((uint64_t)r.seq * (uint64_t)r.batch, (uint64_t)gh * sizeof(float), "the unrolled input projection",
                      &n->loc, n->diags) ||
        !memory_check((uint64_t)(r.in + hidden), (uint64_t)gh * sizeof(float), "the transposed weights", &n->loc,
                      n->diags))
        return NULL;
    Value *init_h, *init_c = NULL;
    if (!state_input(&r, 5, layout, &init_h) || (cell == CELL_LSTM && !state_input(&r, 6, layout, &init_c)))
        return NULL;
    bool want_y = n->n_outputs > 0 && n->outputs[0][0];
    Value **ys[2] = {NULL, NULL}, *hs[2] = {NULL, NULL}, *cs[2] = {NULL, NULL};
    for (int d = 0; d < r.dirs; d++) {
        ys[d] = want_y ? arena_array(n->g->arena, (size_t)r.seq + 1, sizeof(Value *)) : NULL;
        if (!run_direction(&r, x, init_h, init_c, d, rev || d == 1, ys[d], &hs[d], &cs[d]))
            return NULL;
    }
    Value *y = NULL, *yh = hs[0], *yc = cs[0];
    if (want_y) {
        Value *per_dir[2];
        for (int d = 0; d < r.dirs; d++)
            if (!(per_dir[d] = concat_all(&r, ys[d], r.seq, 0, "Y")))
                return NULL;
        y = r.dirs == 2 ? concat_all(&r, per_dir, 2, 1, "Y") : per_dir[0];
        static const int64_t batch_major[4] = {2, 0, 1, 3};
        if (y && layout == 1)   /* [seq, dirs, batch, hidden] -> [batch, seq, dirs, hidden] */
            y = transpose(&r, y, batch_major, "Y");
        if (!y)
            return NULL;
    }
    if (r.dirs == 2) {
        yh = concat_all(&r, hs, 2, 0, "Y_h");
        yc = cell == CELL_LSTM ? concat_all(&r, cs, 2, 0, "Y_c") : NULL;
    }
    if (layout == 1) {
        yh = transpose(&r, yh, swap, "Y_h");
        yc = cell == CELL_LSTM ? transpose(&r, yc, swap, "Y_c") : NULL;
    }
    if (!yh || (cell == CELL_LSTM && !yc))
        return NULL;
    name_output(n, 0, y);
    name_output(n, 1, yh);
    name_output(n, 2, yc);
    return y ? y : yh;
}
