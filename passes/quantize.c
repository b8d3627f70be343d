/* quantize.c: integer weights and activation scales for every xbar op.
 *
 * docs/crossbar.md section 3.  Weights are quantized symmetrically to the
 * architecture's weight_bits, one scale per weight column (g, n) or one per
 * layer (weight_per_layer); the integer values replace w in a new constant,
 * written over w's own data when no other op reads w (weights are most of the
 * memory a compilation touches).
 * Activations get one scale per op from the calibrated range act_min..act_max:
 * unsigned codes when the range has no negative value, else signed ones.  Every
 * division and rounding is the float arithmetic of runtime/quant.h, so that the
 * integer reference and the simulator reproduce the same codes.  An op that is
 * already quantized (it has in_scale) is left as it is, so the pass can run
 * twice; an op without a calibrated range is an error naming it. */
#include "passes/passes.h"
#include "runtime/quant.h"

#include <math.h>
#include <string.h>

static const char *op_name(Diags *diags, const Op *op)
{
    return ir_name_text(diags->arena, op->result->name);
}

/* max / qmax, or 1 when max is 0 (an all-zero column or input). */
static float scale_for(float max_abs, int32_t qmax)
{
    float s = max_abs / (float)qmax;
    return s > 0 ? s : 1.0f;
}

/* (float)quant_code(x, scale, -qmax, qmax) for a finite x with |x / scale|
 * at most about qmax (scale was made from x's column), written so that
 * compilers vectorize it: float comparisons may trap, which keeps them from
 * turning a clamp into selects, so the quotient is rounded first (the same
 * round-half-even step as quant_code, exact for |q| < 2^22) and clamped as an
 * integer.  Rounding and clamping to integer bounds commute. */
static float weight_code(float x, float scale, int32_t qmax)
{
    float q = x / scale;
    float r = q + 0x1.8p23f;
    r = r - 0x1.8p23f;
    int32_t code = (int32_t)r;
    code = code > qmax ? qmax : code;
    code = code < -qmax ? -qmax : code;
    return (float)code;
}

/* w_q and w_scale of one op; false (reported) on a weight that is not finite. */
static bool quantize_weights(Graph *g, Op *op, const Arch *arch, Diags *diags)
{
    XbarGeom geo;
    xbar_geom(op, &geo);
    Value *w = op->inputs[1];
    int64_t K = geo.k, N = geo.n, columns = geo.groups * N;
    int32_t qmax = quant_qmax(arch->weight_bits, true);
    /* The largest |w| of each column, w[g, k, n] being in column g*N + n, on
     * the float bits: magnitudes order as their bit patterns do, infinities
     * and NaNs above every finite value.  Integer operations vectorize (float
     * comparisons may trap, which stops compilers). */
    uint32_t *max_bits = arena_array(g->arena, (size_t)columns, sizeof(uint32_t));
    for (int64_t gk = 0; gk < geo.groups * K; gk++) {
        const float *row = w->data + gk * N;
        uint32_t *col_max = max_bits + (gk / K) * N;
        for (int64_t n = 0; n < N; n++) {
            uint32_t u;
            memcpy(&u, &row[n], sizeof u);
            u &= 0x7fffffffu;
            col_max[n] = u > col_max[n] ? u : col_max[n];
        }
    }
    float *max_abs = arena_array(g->arena, (size_t)columns, sizeof(float));
    float layer_max = 0.0f;
    bool finite = true;
    for (int64_t c = 0; c < columns; c++) {
        memcpy(&max_abs[c], &max_bits[c], sizeof(float));
        finite &= isfinite(max_abs[c]);
        layer_max = max_abs[c] > layer_max ? max_abs[c] : layer_max;
    }
    for (int64_t i = 0; !finite; i++) {
        if (!isfinite(w->data[i])) {
            diag_error(diags, &op->loc, "xbar %%%s: weight %lld is %g, which cannot be quantized",
                       op_name(diags, op), (long long)i, w->data[i]);
            return false;
        }
    }
    float *scales = arena_array(g->arena, (size_t)columns, sizeof(float));
    for (int64_t c = 0; c < columns; c++)
        scales[c] = scale_for(arch->weight_per_layer ? layer_max : max_abs[c], qmax);

    const char *name = ir_fresh_name(g, arena_printf(g->arena, "%s.q", w->name));
    Value *wq = ir_count_uses(g, w) == 1 ? ir_add_const_taking(g, name, w->type, w->data)
                                         : ir_add_const(g, name, w->type, NULL);
    for (int64_t gk = 0; gk < geo.groups * K; gk++) {
        const float *col_scale = scales + (gk / K) * N;
        const float *row = w->data + gk * N;
        float *out = wq->data + gk * N;
        for (int64_t n = 0; n < N; n++)
            out[n] = weight_code(row[n], col_scale[n], qmax);
    }
    op->inputs[1] = wq;
    ir_set_int(g, op, "w_bits", arch->weight_bits);
    ir_set_floats(g, op, "w_scale", scales, (int)columns);
    return true;
}

/* in_bits, in_scale, in_signed from the calibrated range. */
static bool quantize_input(Graph *g, Op *op, const Arch *arch, Diags *diags)
{
    const Attr *lo = ir_attr(op, "act_min"), *hi = ir_attr(op, "act_max");
    if (!lo || !hi) {
        diag_error(diags, &op->loc, "xbar %%%s has no act_min/act_max: calibrate (--calib) before quantize",
                   op_name(diags, op));
        return false;
    }
    float act_min = ir_attr_float(op, "act_min", 0.0f), act_max = ir_attr_float(op, "act_max", 0.0f);
    if (!isfinite(act_min) || !isfinite(act_max) || act_min > act_max) {
        diag_error(diags, &op->loc, "xbar %%%s has an invalid calibrated range [%g, %g]", op_name(diags, op),
                   act_min, act_max);
        return false;
    }
    bool is_signed = act_min < 0;
    if (is_signed && arch->input_bits < 2) {
        diag_error(diags, &op->loc, "xbar %%%s sees negative inputs, which %d input bit cannot code",
                   op_name(diags, op), arch->input_bits);
        return false;
    }
    float range = fmaxf(fabsf(act_min), fabsf(act_max));
    ir_set_int(g, op, "in_bits", arch->input_bits);
    ir_set_float(g, op, "in_scale", scale_for(range, quant_qmax(arch->input_bits, is_signed)));
    ir_set_int(g, op, "in_signed", is_signed);
    return true;
}

bool pass_quantize(Graph *g, const PassArgs *args, Diags *diags)
{
    (void)args;
    if (!g->arch) {
        g->arch = arena_alloc(g->arena, sizeof *g->arch);
        *g->arch = arch_default();
    }
    int errors_before = diags->n_errors;
    bool changed = false;
    for (int i = 0; i < g->n_ops; i++) {
        Op *op = g->ops[i];
        if (op->kind != OP_XBAR || op->dead || ir_attr(op, "in_scale"))
            continue;
        if (quantize_input(g, op, g->arch, diags))
            changed |= quantize_weights(g, op, g->arch, diags);
    }
    if (changed)
        ir_compact(g);
    return diags->n_errors == errors_before;
}
