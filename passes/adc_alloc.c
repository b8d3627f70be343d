/* adc_alloc.c: pass `adc-alloc`, ADC bits and a calibrated range per block.
 *
 * docs/adc.md.  Where adc-lossless gives every block the bits that can never
 * lose a column sum, this pass gives each block the bits its layer is allowed
 * and a full scale clipped to what the calibration data showed.  It is a pure
 * function of attributes, so it runs alone on .xir text:
 *
 *   psum_max, psum_p9999, psum_p999, psum_p99   per block: statistics of |v|
 *       over every column sum the block's ADCs converted on the calibration
 *       images (adc_collect_stats in study/adc_search.c writes them);
 *   adc_layer_bits   per layer, optional: the bits the allocation driver
 *       chose for the layer.
 *
 * For a block with lossless bound V (docs/crossbar.md 7) and b bits, Q =
 * 2^(b-1) - 1 codes of each sign for the analog pair, else 2^b - 1:
 *
 *   C = min(the clip statistic, V)          never beyond what can occur;
 *   adc_max = Q when ceil(C) <= Q           the range fits at step 1: lossless
 *                                           on every sum up to Q;
 *   adc_max = C otherwise                   step C / Q, sums beyond C clip.
 *
 * bits=B gives every block exactly B bits (a uniform chip).  bits=auto (the
 * default) gives a layer its adc_layer_bits, or the architecture's adc_bits
 * without it, never more than the block's lossless bits, and lowers each
 * block further to the fewest bits that hold its C at step 1: those bits cost
 * nothing on the calibration data.  bits=arch is the chip as built: every
 * block the architecture's adc_bits, or its lossless bits when fewer (then
 * exact, step 1); only blocks whose lossless bits exceed adc_bits are
 * clipped.  clip=full takes C = V, the whole range, and needs no statistics
 * (no calibration data).  clip=reach takes C = the reach, R times the largest
 * sum one row adds from the layer's codes (reach_per_row: CrossSim's range
 * MAX), and clip=F (a number, 0 < F <= 1) C = F x the reach; neither needs
 * statistics.  The reach is at most V, and below it when the layer's
 * weights or inputs cannot reach a cell's or a DAC's top level (one 8-bit
 * cell holding a pair's 7-bit magnitude).  Float-weight ops have no ADC and
 * are left alone.  An op's string attribute adc_range (a clip of the same
 * names) replaces the pass's clip for that op: a range chosen per layer. */
#include "passes/mapping.h"
#include "passes/passes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const clip_names[] = {"max", "p99.99", "p99.9", "p99", "full", "reach"};
static const char *const clip_attrs[] = {"psum_max", "psum_p9999", "psum_p999", "psum_p99", NULL, NULL};
enum { N_CLIPS = 6, CLIP_REACH = 5, MAX_BITS = 25, BITS_ARCH = -1 };

/* Fewest bits b with 2^b - 1 >= v. */
static int bits_for(int64_t v)
{
    int b = 0;
    while (b < 62 && ((int64_t)1 << b) - 1 < v)
        b++;
    return b;
}

typedef struct {
    int bits;               /* 0: auto, BITS_ARCH: the architecture's */
    const char *clip_attr;  /* NULL: no statistic, a range from the block's geometry */
    double reach_fraction;  /* > 0: C = this fraction of the reach (clip=reach or a number) */
} AllocArgs;

/* A clip's statistic or fraction of the reach into out; false if the name is
 * none of them (the caller reports it). */
static bool parse_clip(const char *clip, AllocArgs *out)
{
    if (clip[0] == '.' || (clip[0] >= '0' && clip[0] <= '9')) {
        char *end;
        double f = strtod(clip, &end);
        if (*end || !(f > 0 && f <= 1))
            return false;
        out->clip_attr = NULL;
        out->reach_fraction = f;
        return true;
    }
    int i = 0;
    while (i < N_CLIPS && strcmp(clip_names[i], clip) != 0)
        i++;
    if (i == N_CLIPS)
        return false;
    out->clip_attr = clip_attrs[i];
    out->reach_fraction = i == CLIP_REACH ? 1 : 0;
    return true;
}

#define CLIP_CHOICES "max, p99.99, p99.9, p99, full, reach or a fraction of the reach (0 < F <= 1)"

static bool read_args(const PassArgs *args, AllocArgs *out, Diags *diags)
{
    const char *bits = pass_arg(args, "bits");
    const char *clip = pass_arg(args, "clip");
    out->bits = 0;
    out->clip_attr = clip_attrs[0];
    out->reach_fraction = 0;
    if (bits && strcmp(bits, "arch") == 0) {
        out->bits = BITS_ARCH;
    } else if (bits && strcmp(bits, "auto") != 0) {
        char *end;
        long b = strtol(bits, &end, 10);
        if (*end || end == bits || b < 1 || b > MAX_BITS - 1) {
            diag_error(diags, NULL, "adc-alloc: bits must be auto, arch or a count of 1 to %d, not '%s'",
                       MAX_BITS - 1, bits);
            return false;
        }
        out->bits = (int)b;
    }
    if (clip && !parse_clip(clip, out)) {
        diag_error(diags, NULL, "adc-alloc: clip must be " CLIP_CHOICES ", not '%s'", clip);
        return false;
    }
    return true;
}

/* The statistic the clip uses, one value per block, or NULL after an error. */
static const float *clip_stats(const Op *op, const char *attr, int64_t blocks, Diags *diags)
{
    const char *name = ir_name_text(diags->arena, op->result->name);
    const Attr *a = ir_attr(op, attr);
    if (!a || a->kind != ATTR_FLOATS) {
        diag_error(diags, &op->loc, "adc-alloc: xbar %%%s has no list of floats '%s': collect partial-sum "
                   "statistics first (xbarc compile --adc=alloc, docs/adc.md)", name, attr);
        return NULL;
    }
    if (a->count != blocks) {
        diag_error(diags, &op->loc, "adc-alloc: xbar %%%s: '%s' has %d values for %lld blocks (statistics "
                   "from before the last split?)", name, attr, a->count, (long long)blocks);
        return NULL;
    }
    for (int b = 0; b < a->count; b++) {
        if (!(a->floats[b] >= 0) || !isfinite(a->floats[b])) {
            diag_error(diags, &op->loc, "adc-alloc: xbar %%%s: %s[%d] = %g is not a finite |column sum|",
                       name, attr, b, a->floats[b]);
            return NULL;
        }
    }
    return a->floats;
}

/* The bits a layer may use in auto mode. */
static bool layer_bits(const Op *op, const Arch *arch, bool is_signed, int *bits, Diags *diags)
{
    const Attr *a = ir_attr(op, "adc_layer_bits");
    int lowest = is_signed ? 2 : 1;
    if (!a) {
        *bits = arch->adc_bits;
        return true;
    }
    if (a->kind != ATTR_INT || a->i < lowest || a->i >= MAX_BITS) {
        diag_error(diags, &op->loc, "adc-alloc: xbar %%%s: adc_layer_bits must be an int of %d to %d",
                   ir_name_text(diags->arena, op->result->name), lowest, MAX_BITS - 1);
        return false;
    }
    *bits = (int)a->i;
    return true;
}

/* The largest |column sum| one row of the block adds in one read, from the
 * layer's codes (docs/adc.md 0): the largest input chunk a DAC cycle drives,
 * min(2^dac_bits - 1, qmax_x), times the highest level a cell is programmed
 * to, min(2^cell_bits - 1, u_max) with u_max = qmax_w for a pair's magnitude
 * and 2 qmax_w for offset's shifted weight (docs/crossbar.md 4, 5).  R rows
 * times it is CrossSim's range MAX: every row at its top input on a cell at
 * the level of the layer's largest weight. */
static int64_t reach_per_row(const Op *op, const Arch *arch, SignMapping sign, int64_t cell_bits)
{
    int64_t in_bits = ir_attr_int(op, "in_bits", arch->input_bits);
    int64_t qmax_x = ir_attr_int(op, "in_signed", 0) ? ((int64_t)1 << (in_bits - 1)) - 1
                                                       : ((int64_t)1 << in_bits) - 1;
    int64_t chunk = ((int64_t)1 << arch->dac_bits) - 1;
    int64_t qmax_w = ((int64_t)1 << (ir_attr_int(op, "w_bits", arch->weight_bits) - 1)) - 1;
    int64_t u_max = sign == SIGN_OFFSET ? 2 * qmax_w : qmax_w;
    int64_t level = ((int64_t)1 << cell_bits) - 1;
    return (chunk < qmax_x ? chunk : qmax_x) * (level < u_max ? level : u_max);
}

static bool alloc_op(Graph *g, Op *op, const Arch *arch, const AllocArgs *pass_args, Diags *diags)
{
    /* a layer's own range (`adc_range`, the driver's --adc-range) replaces the pass's clip */
    AllocArgs own = *pass_args;
    const AllocArgs *args = pass_args;
    const Attr *range = ir_attr(op, "adc_range");
    if (range) {
        if (range->kind != ATTR_STRING || !parse_clip(range->s, &own)) {
            diag_error(diags, &op->loc, "adc-alloc: xbar %%%s: adc_range must be a string, " CLIP_CHOICES ", not %s",
                       ir_name_text(diags->arena, op->result->name),
                       range->kind == ATTR_STRING ? arena_printf(diags->arena, "'%s'", range->s) : "another kind");
            return false;
        }
        args = &own;
    }
    SignMapping sign;
    if (!mapping_sign(op, "adc-alloc", &sign, diags))
        return false;
    const Attr *cell_bits = mapping_need(op, "adc-alloc", "cell_bits", ATTR_INT, diags);
    const Attr *rows = mapping_need(op, "adc-alloc", "row_splits", ATTR_INTS, diags);
    const Attr *cols = mapping_need(op, "adc-alloc", "col_splits", ATTR_INTS, diags);
    if (!cell_bits || !rows || !cols)
        return false;
    bool is_signed = sign == SIGN_PAIR_ANALOG;
    int64_t groups = op->inputs[1]->type.dims[0];
    int64_t replicas = ir_attr_int(op, "replicas", 1);
    int row_blocks = rows->count - 1, col_blocks = cols->count - 1;
    int64_t blocks = replicas * groups * row_blocks * col_blocks;
    const float *stat = args->clip_attr ? clip_stats(op, args->clip_attr, blocks, diags) : NULL;
    int wanted = args->bits == BITS_ARCH ? arch->adc_bits : args->bits;
    if ((args->clip_attr && !stat) || (!wanted && !layer_bits(op, arch, is_signed, &wanted, diags)))
        return false;
    if (is_signed && wanted < 2) {
        diag_error(diags, &op->loc, "adc-alloc: xbar %%%s: a signed (pair-analog) ADC needs at least 2 bits",
                   ir_name_text(diags->arena, op->result->name));
        return false;
    }

    int64_t *bits = arena_array(g->arena, (size_t)blocks, sizeof(int64_t));
    float *full_scale = arena_array(g->arena, (size_t)blocks, sizeof(float));
    int64_t per_row = (((int64_t)1 << arch->dac_bits) - 1) * (((int64_t)1 << cell_bits->i) - 1);
    int64_t reach_row = reach_per_row(op, arch, sign, cell_bits->i);
    int sign_bit = is_signed ? 1 : 0;
    /* Blocks replica-major, then group, row block, column block
     * (docs/crossbar.md 6): only the row block changes the bound. */
    for (int64_t b = 0; b < blocks; b++) {
        int rb = (int)((b / col_blocks) % row_blocks);
        int64_t rows_used = rows->ints[rb + 1] - rows->ints[rb];
        int64_t bound = rows_used * per_row;            /* the lossless V */
        double clip = stat ? fmin((double)stat[b], (double)bound)
                    : args->reach_fraction > 0 ? args->reach_fraction * (double)(rows_used * reach_row)
                    : (double)bound;
        int64_t needed = (int64_t)ceil(clip);
        int need_bits = (needed > 0 ? bits_for(needed) : 1) + sign_bit;
        int lossless_bits = (bound > 0 ? bits_for(bound) : 1) + sign_bit;
        int b_bits = wanted;
        if (args->bits <= 0)            /* auto and arch: never more than lossless */
            b_bits = b_bits < lossless_bits ? b_bits : lossless_bits;
        if (!args->bits)                /* auto: no more than the range needs at step 1 */
            b_bits = b_bits < need_bits ? b_bits : need_bits;
        int64_t levels = ((int64_t)1 << (b_bits - sign_bit)) - 1;
        bits[b] = b_bits;
        full_scale[b] = needed <= levels ? (float)levels : (float)clip;
    }
    mapping_set_ints(g, op, "adc_bits", bits, (int)blocks);
    mapping_set_floats(g, op, "adc_max", full_scale, (int)blocks);
    return true;
}

bool pass_adc_alloc(Graph *g, const PassArgs *args, Diags *diags)
{
    AllocArgs alloc;
    if (!read_args(args, &alloc, diags))
        return false;
    const Arch *arch = mapping_arch(g, "adc-alloc", diags);
    if (!arch)
        return false;
    bool ok = true;
    for (int i = 0; i < g->n_ops; i++) {
        Op *op = g->ops[i];
        if (!op->dead && op->kind == OP_XBAR && mapping_quantized(op))
            ok &= alloc_op(g, op, arch, &alloc, diags);
    }
    return ok;
}
