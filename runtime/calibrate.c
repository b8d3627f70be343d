/* calibrate.c: activation ranges of the crossbar layers, for the quantize pass.
 *
 * The float reference interpreter runs the lowered, not yet quantized graph on
 * each calibration image, and every xbar op records the smallest and largest
 * value its input x took over all images (docs/crossbar.md section 3) as the
 * float attributes `act_min` and `act_max`.  The interpreter keeps every
 * intermediate buffer after a run, so one pass over the ops after each run
 * reads them all.  NaNs are ignored (comparisons with NaN are false).
 * calibrate_nominal() skips the data altogether (`xbarc compile --calib
 * none`): every layer gets one range, which maps and quantizes a network
 * exactly as real ranges would, but computes nothing meaningful. */
#include "runtime.h"

#include <math.h>
#include <string.h>

static const char *op_name(Diags *diags, const Op *op)
{
    return ir_name_text(diags->arena, op->result->name);
}

bool calibrate_xbar(Graph *g, const float *images, int count, Diags *diags)
{
    Loc none = {0};
    if (g->n_inputs != 1) {
        diag_error(diags, &none, "calibration needs a graph with one input; @%s has %d", g->name, g->n_inputs);
        return false;
    }
    if (count < 1) {
        diag_error(diags, &none, "calibration needs at least one image");
        return false;
    }
    int errors_before = diags->n_errors;
    int n_xbar = 0;
    for (int i = 0; i < g->n_ops; i++) {
        const Op *op = g->ops[i];
        if (op->kind != OP_XBAR)
            continue;
        n_xbar++;
        if (ir_attr(op, "in_scale"))
            diag_error(diags, &op->loc, "xbar %%%s is already quantized: calibrate before the quantize pass",
                       op_name(diags, op));
    }
    if (diags->n_errors != errors_before)
        return false;
    if (n_xbar == 0)
        return true;

    if (!interp_fits(g, 1, diags))
        return false;
    float *lo = arena_array(g->arena, (size_t)g->n_ops, sizeof *lo);
    float *hi = arena_array(g->arena, (size_t)g->n_ops, sizeof *hi);
    for (int i = 0; i < g->n_ops; i++) {
        lo[i] = INFINITY;
        hi[i] = -INFINITY;
    }
    Interp *interp = interp_new(g);
    int64_t image_size = type_numel(&g->inputs[0]->type);
    for (int image = 0; image < count; image++) {
        memcpy(interp_input(interp, 0), images + image * image_size, (size_t)image_size * sizeof(float));
        interp_run(interp);
        for (int i = 0; i < g->n_ops; i++) {
            const Op *op = g->ops[i];
            if (op->kind != OP_XBAR)
                continue;
            const float *x = interp_value(interp, op->inputs[0]);
            int64_t n = type_numel(&op->inputs[0]->type);
            for (int64_t j = 0; j < n; j++) {
                if (x[j] < lo[i])
                    lo[i] = x[j];
                if (x[j] > hi[i])
                    hi[i] = x[j];
            }
        }
    }
    interp_free(interp);

    for (int i = 0; i < g->n_ops; i++) {
        Op *op = g->ops[i];
        if (op->kind != OP_XBAR)
            continue;
        if (!(lo[i] <= hi[i])) {
            diag_error(diags, &op->loc, "the input of xbar %%%s was NaN on every calibration image",
                       op_name(diags, op));
            continue;
        }
        ir_set_float(g, op, "act_min", lo[i]);
        ir_set_float(g, op, "act_max", hi[i]);
    }
    return diags->n_errors == errors_before;
}

void calibrate_nominal(Graph *g, float act_min, float act_max)
{
    for (int i = 0; i < g->n_ops; i++) {
        Op *op = g->ops[i];
        if (op->kind == OP_XBAR && !op->dead && !ir_attr(op, "in_scale")) {
            ir_set_float(g, op, "act_min", act_min);
            ir_set_float(g, op, "act_max", act_max);
        }
    }
}
