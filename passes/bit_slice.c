/* bit_slice.c: pass `bit-slice`, weight magnitudes over cells of cell_bits.
 *
 * docs/crossbar.md section 5: a quantized weight of w_bits bits has m
 * magnitude bits, w_bits - 1 in a pair (the sign chooses the column) and
 * w_bits in offset form (w + qmax lies in [0, 2 qmax]); S = ceil(m / cell_bits)
 * cells hold its slices, least significant first.  A float-weight op (no
 * quantization attributes) keeps each weight whole in one "slice".  Changing S
 * changes every block's width, so new values drop the splits and what follows. */
#include "passes/mapping.h"
#include "passes/passes.h"

static const char *const derived[] = {"row_splits", "col_splits", "place", "adc_bits", "adc_max", NULL};

static bool slice_op(Graph *g, Op *op, const Arch *arch, Diags *diags)
{
    SignMapping sign;
    if (!mapping_sign(op, "bit-slice", &sign, diags))
        return false;
    int64_t slices = 1;
    if (mapping_quantized(op)) {
        const Attr *w_bits = mapping_need(op, "bit-slice", "w_bits", ATTR_INT, diags);
        if (!w_bits)
            return false;
        int64_t magnitude_bits = sign == SIGN_OFFSET ? w_bits->i : w_bits->i - 1;
        slices = (magnitude_bits + arch->cell_bits - 1) / arch->cell_bits;
    }
    bool changed = mapping_set_int(g, op, "cell_bits", arch->cell_bits);
    changed |= mapping_set_int(g, op, "slices", slices);
    if (changed)
        mapping_drop(op, derived);
    return true;
}

bool pass_bit_slice(Graph *g, const PassArgs *args, Diags *diags)
{
    (void)args;
    return mapping_each_xbar(g, "bit-slice", slice_op, diags);
}
