/* adc_lossless.c: pass `adc-lossless`, ADCs that never lose a column sum.
 *
 * docs/crossbar.md section 7.  One read of a block with R rows, inputs of
 * dac_bits per cycle and cells of cell_bits gives column sums in [0, V] with
 * V = R (2^dac_bits - 1)(2^cell_bits - 1).  An unsigned ADC (digital pair,
 * offset) with b = ceil(log2(V + 1)) bits and full scale 2^b - 1 has step 1 and
 * so passes every sum exactly; the analog pair subtracts before converting, a
 * sum in [-V, V], and needs one bit more with full scale 2^(b-1) - 1.  The
 * architecture's adc_bits is no cap here: this is the bound the allocation
 * pass of issue 4 starts from.  The bits are counted with integers (no log2 in
 * floating point), and a full scale beyond 2^24 is refused because adc_max is
 * a float and could not hold a step of exactly 1.  Float-weight ops have no
 * ADC: adc_bits 0, adc_max 0. */
#include "passes/mapping.h"
#include "passes/passes.h"

/* Fewest bits b with 2^b - 1 >= v. */
static int bits_for(int64_t v)
{
    int b = 0;
    while (b < 62 && ((int64_t)1 << b) - 1 < v)
        b++;
    return b;
}

static bool adc_op(Graph *g, Op *op, const Arch *arch, Diags *diags)
{
    SignMapping sign;
    if (!mapping_sign(op, "adc-lossless", &sign, diags))
        return false;
    const Attr *cell_bits = mapping_need(op, "adc-lossless", "cell_bits", ATTR_INT, diags);
    const Attr *rows = mapping_need(op, "adc-lossless", "row_splits", ATTR_INTS, diags);
    const Attr *cols = mapping_need(op, "adc-lossless", "col_splits", ATTR_INTS, diags);
    if (!cell_bits || !rows || !cols)
        return false;
    int64_t groups = op->inputs[1]->type.dims[0];
    int row_blocks = rows->count - 1, col_blocks = cols->count - 1;
    int64_t copy_blocks = groups * row_blocks * col_blocks;
    /* Every copy of a replicated layer has the same blocks (docs/crossbar.md 6). */
    int64_t blocks = copy_blocks * ir_attr_int(op, "replicas", 1);
    int64_t *bits = arena_array(g->arena, (size_t)blocks, sizeof(int64_t));
    float *full_scale = arena_array(g->arena, (size_t)blocks, sizeof(float));

    /* Float-weight ops keep the zeros: no ADC.  Every group has the same row
     * blocks, so the bits repeat per group. */
    int64_t per_row = (((int64_t)1 << arch->dac_bits) - 1) * (((int64_t)1 << cell_bits->i) - 1);
    int64_t b = 0;
    for (int64_t gi = 0; gi < groups && mapping_quantized(op); gi++) {
        for (int rb = 0; rb < row_blocks; rb++) {
            int64_t bound = (rows->ints[rb + 1] - rows->ints[rb]) * per_row;
            int magnitude = bits_for(bound);
            if (magnitude > 24) {
                diag_error(diags, &op->loc, "adc-lossless: xbar %%%s: a column sum of row block %d reaches "
                           "%lld, which needs a %d-bit ADC; a float full scale holds at most 24 bits exactly",
                           ir_name_text(diags->arena, op->result->name), rb, (long long)bound, magnitude);
                return false;
            }
            for (int cb = 0; cb < col_blocks; cb++, b++) {
                bits[b] = sign == SIGN_PAIR_ANALOG ? magnitude + 1 : magnitude;
                full_scale[b] = (float)(((int64_t)1 << magnitude) - 1);
            }
        }
    }
    for (int64_t c = copy_blocks; c < blocks; c++) {
        bits[c] = bits[c % copy_blocks];
        full_scale[c] = full_scale[c % copy_blocks];
    }
    mapping_set_ints(g, op, "adc_bits", bits, (int)blocks);
    mapping_set_floats(g, op, "adc_max", full_scale, (int)blocks);
    return true;
}

bool pass_adc_lossless(Graph *g, const PassArgs *args, Diags *diags)
{
    (void)args;
    return mapping_each_xbar(g, "adc-lossless", adc_op, diags);
}
