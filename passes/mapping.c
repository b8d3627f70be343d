/* mapping.c: helpers of the crossbar mapping passes (passes/mapping.h).
 *
 * Prerequisite checks, the balanced split both `split` dimensions use, the
 * physical column counts of docs/crossbar.md section 5, and attribute setters
 * that say whether anything changed, so that a pass rerun with the same inputs
 * leaves the graph exactly as it was. */
#include "passes/mapping.h"

#include <string.h>

/* Which step writes each attribute a mapping pass may need. */
static const struct {
    const char *attr, *producer;
} producers[] = {
    {"form", "lower-xbar"},    {"w_bits", "quantize"},     {"in_scale", "quantize"},
    {"in_bits", "quantize"},   {"in_signed", "quantize"},  {"w_scale", "quantize"},
    {"sign", "sign-map"},      {"slices", "bit-slice"},    {"cell_bits", "bit-slice"},
    {"row_splits", "split"},   {"col_splits", "split"},    {"place", "place"},
    {"adc_bits", "adc-lossless"}, {"adc_max", "adc-lossless"}, {"replicas", "replicate"},
};

static const char *producer_of(const char *attr)
{
    for (size_t i = 0; i < sizeof producers / sizeof producers[0]; i++)
        if (strcmp(producers[i].attr, attr) == 0)
            return producers[i].producer;
    return NULL;
}

const Arch *mapping_arch(const Graph *g, const char *pass, Diags *diags)
{
    if (!g->arch)
        diag_error(diags, NULL, "%s: graph @%s has no architecture (run lower-xbar, or give the .xir an "
                   "arch line)", pass, ir_name_text(diags->arena, g->name));
    return g->arch;
}

static const char *const kind_names[] = {
    [ATTR_INT] = "an int", [ATTR_FLOAT] = "a float", [ATTR_INTS] = "a list of ints",
    [ATTR_FLOATS] = "a list of floats", [ATTR_STRING] = "a string",
};

bool mapping_each_xbar(Graph *g, const char *pass, bool (*fn)(Graph *g, Op *op, const Arch *arch, Diags *diags),
                       Diags *diags)
{
    const Arch *arch = mapping_arch(g, pass, diags);
    if (!arch)
        return false;
    bool ok = true;
    for (int i = 0; i < g->n_ops; i++) {
        Op *op = g->ops[i];
        if (!op->dead && op->kind == OP_XBAR)
            ok &= fn(g, op, arch, diags);
    }
    return ok;
}

const Attr *mapping_need(const Op *op, const char *pass, const char *name, AttrKind kind, Diags *diags)
{
    const Attr *a = ir_attr(op, name);
    const char *op_name = ir_name_text(diags->arena, op->result->name);
    if (!a) {
        const char *producer = producer_of(name);
        if (producer)
            diag_error(diags, &op->loc, "%s: xbar %%%s has no attribute '%s': run %s first", pass, op_name,
                       name, producer);
        else
            diag_error(diags, &op->loc, "%s: xbar %%%s has no attribute '%s'", pass, op_name, name);
        return NULL;
    }
    if (a->kind != kind) {
        diag_error(diags, &op->loc, "%s: attribute '%s' of xbar %%%s must be %s, not %s", pass, name, op_name,
                   kind_names[kind], kind_names[a->kind]);
        return NULL;
    }
    return a;
}

bool mapping_sign(const Op *op, const char *pass, SignMapping *sign, Diags *diags)
{
    const Attr *a = mapping_need(op, pass, "sign", ATTR_STRING, diags);
    if (!a)
        return false;
    if (!sign_mapping_from_name(a->s, sign)) {
        diag_error(diags, &op->loc, "%s: xbar %%%s has an unknown sign mapping '%s'", pass,
                   ir_name_text(diags->arena, op->result->name), a->s);
        return false;
    }
    return true;
}

bool mapping_quantized(const Op *op)
{
    return ir_attr(op, "in_scale") != NULL;
}


/* Why balanced: the fewest parts fix the tile count, and among cuts with that
 * many parts the even one keeps every block's rows (and so its column sums and
 * ADC range) as small as possible: 87+87+86, not 128+128+4. */
int mapping_balanced_splits(Arena *arena, int64_t total, int64_t max_part, int64_t **splits)
{
    int64_t parts = (total + max_part - 1) / max_part;
    int64_t base = total / parts, larger = total % parts;
    *splits = arena_array(arena, (size_t)parts + 1, sizeof(int64_t));
    (*splits)[0] = 0;
    for (int64_t i = 0; i < parts; i++)
        (*splits)[i + 1] = (*splits)[i] + base + (i < larger);
    return (int)parts;
}

int mapping_full_splits(Arena *arena, int64_t total, int64_t max_part, int64_t **splits)
{
    int64_t parts = (total + max_part - 1) / max_part;
    *splits = arena_array(arena, (size_t)parts + 1, sizeof(int64_t));
    for (int64_t i = 0; i < parts; i++)
        (*splits)[i] = i * max_part;
    (*splits)[parts] = total;
    return (int)parts;
}

bool mapping_set_int(Graph *g, Op *op, const char *name, int64_t v)
{
    const Attr *a = ir_attr(op, name);
    bool changed = !a || a->kind != ATTR_INT || a->i != v;
    if (changed)
        ir_set_int(g, op, name, v);
    return changed;
}

bool mapping_set_string(Graph *g, Op *op, const char *name, const char *v)
{
    const Attr *a = ir_attr(op, name);
    bool changed = !a || a->kind != ATTR_STRING || strcmp(a->s, v) != 0;
    if (changed)
        ir_set_string(g, op, name, v);
    return changed;
}

bool mapping_set_ints(Graph *g, Op *op, const char *name, const int64_t *v, int count)
{
    const Attr *a = ir_attr(op, name);
    bool changed = !a || a->kind != ATTR_INTS || a->count != count ||
                   (count && memcmp(a->ints, v, (size_t)count * sizeof *v) != 0);
    if (changed)
        ir_set_ints(g, op, name, v, count);
    return changed;
}

bool mapping_set_floats(Graph *g, Op *op, const char *name, const float *v, int count)
{
    const Attr *a = ir_attr(op, name);
    bool changed = !a || a->kind != ATTR_FLOATS || a->count != count;
    for (int i = 0; !changed && i < count; i++)
        changed = a->floats[i] != v[i];
    if (changed)
        ir_set_floats(g, op, name, v, count);
    return changed;
}

void mapping_drop(Op *op, const char *const *names)
{
    for (; *names; names++) {
        for (int i = 0; i < op->n_attrs; i++) {
            if (strcmp(op->attrs[i].name, *names) != 0)
                continue;
            memmove(&op->attrs[i], &op->attrs[i + 1], (size_t)(op->n_attrs - i - 1) * sizeof(Attr));
            op->n_attrs--;
            break;
        }
    }
}

/* ---- blocks ---- */

int64_t mapping_cycles(const Op *op, const Arch *arch)
{
    if (!mapping_quantized(op))
        return 1;
    int64_t bits = ir_attr_int(op, "in_bits", arch->input_bits);
    bool is_signed = ir_attr_int(op, "in_signed", 0) != 0;
    int64_t magnitude = is_signed ? bits - 1 : bits, dac = arch->dac_bits > 0 ? arch->dac_bits : 1;
    int64_t cycles = (magnitude + dac - 1) / dac;
    return (cycles > 0 ? cycles : 1) * (is_signed ? 2 : 1);
}

/* The attributes of one op's blocks, checked. */
typedef struct {
    const int64_t *rows, *cols;     /* splits */
    int n_rows, n_cols, slices, per_column, refs;
    int64_t groups, replicas;
    SignMapping sign;
} OpBlocks;

static bool read_op_blocks(const Op *op, const char *pass, OpBlocks *ob, Diags *diags)
{
    SignMapping sign;
    if (!mapping_sign(op, pass, &sign, diags))
        return false;
    const Attr *slices = mapping_need(op, pass, "slices", ATTR_INT, diags);
    const Attr *rows = mapping_need(op, pass, "row_splits", ATTR_INTS, diags);
    const Attr *cols = mapping_need(op, pass, "col_splits", ATTR_INTS, diags);
    if (!slices || !rows || !cols)
        return false;
    ob->rows = rows->ints;
    ob->cols = cols->ints;
    ob->n_rows = rows->count - 1;
    ob->n_cols = cols->count - 1;
    ob->slices = (int)slices->i;
    ob->per_column = (int)slices->i * cell_polarities(sign);
    ob->refs = cell_ref_cols(sign, (int)slices->i);
    ob->groups = op->inputs[1]->type.dims[0];
    ob->replicas = ir_attr_int(op, "replicas", 1);
    ob->sign = sign;
    if (ob->replicas < 1) {
        diag_error(diags, &op->loc, "%s: xbar %%%s has replicas = %lld; it must be at least 1", pass,
                   ir_name_text(diags->arena, op->result->name), (long long)ob->replicas);
        return false;
    }
    return true;
}

bool mapping_blocks(Arena *arena, const Graph *g, const char *pass, MapBlocks *out, Diags *diags)
{
    memset(out, 0, sizeof *out);
    out->arch = mapping_arch(g, pass, diags);
    if (!out->arch)
        return false;
    int64_t layers = 0, blocks = 0;
    bool ok = true;
    for (int i = 0; i < g->n_ops; i++) {
        const Op *op = g->ops[i];
        OpBlocks ob;
        if (op->dead || op->kind != OP_XBAR)
            continue;
        if (!read_op_blocks(op, pass, &ob, diags)) {
            ok = false;
            continue;
        }
        layers++;
        blocks += ob.replicas * ob.groups * ob.n_rows * ob.n_cols;
    }
    if (!ok)
        return false;
    if (blocks > INT32_MAX / 4) {
        diag_error(diags, NULL, "%s: graph @%s has %lld blocks, more than xbarc can place", pass,
                   ir_name_text(diags->arena, g->name), (long long)blocks);
        return false;
    }
    out->layers = arena_array(arena, (size_t)layers + 1, sizeof(MapLayer));
    out->blocks = arena_array(arena, (size_t)blocks + 1, sizeof(PackBlock));
    out->time = time_model_default();
    const Type *first = g->n_inputs ? &g->inputs[0]->type : NULL;
    out->images_per_run = first && first->rank >= 2 && first->dims[0] > 0 ? first->dims[0] : 1;
    MapLayer *last = NULL;              /* the xbar op whose units the digital ops use */
    for (int i = 0; i < g->n_ops; i++) {
        Op *op = g->ops[i];
        OpBlocks ob;
        XbarGeom geom;
        if (op->dead)
            continue;
        if (op->kind != OP_XBAR) {
            double ops, bytes;
            time_op_work(op, 0, &ops, &bytes);
            int64_t t = time_digital_ps(&out->time, ops);
            const Op **slowest = last ? &last->tail_op : &out->head_op;
            int64_t *most = last ? &last->tail_ps : &out->head_ps, *sum = last ? &last->tail_sum_ps : &out->head_sum_ps;
            if (!*slowest || t > *most) {
                *slowest = op;
                *most = t;
            }
            *sum += t;
            continue;
        }
        read_op_blocks(op, pass, &ob, diags);
        MapLayer *L = last = &out->layers[out->n_layers];
        L->op = op;
        L->vectors = xbar_geom(op, &geom) ? geom.rows : 1;
        L->cycles = mapping_cycles(op, out->arch);
        L->replicas = ob.replicas;
        L->first_block = out->n_blocks;
        L->n_blocks = (int)(ob.groups * ob.n_rows * ob.n_cols);
        /* The step of the block whose busiest ADC converts most, placed at
         * an ADC group's start; a float-weight block has no ADC. */
        int turns = 0;
        double out_cols = 0;            /* ADC values of one copy's blocks, per vector */
        for (int cb = 0; cb < ob.n_cols; cb++) {
            int width = (int)((ob.cols[cb + 1] - ob.cols[cb]) * ob.per_column + ob.refs);
            int t = time_adc_turns(width, 0, ob.sign == SIGN_PAIR_ANALOG, out->arch->cols_per_adc);
            turns = t > turns ? t : turns;
            out_cols += (double)(ob.sign == SIGN_PAIR_ANALOG ? width / 2 : width);
        }
        if (!mapping_quantized(op))
            turns = 0;
        L->vector_ps = L->cycles * time_step_ps(&out->time, turns);
        /* quant 1 an input element, combine 1 an ADC value, dequant 2 an
         * output element (docs/perf.md 3) */
        double digital = (double)type_numel(&op->inputs[0]->type) +
                         (double)L->vectors * out_cols * (double)(ob.groups * ob.n_rows) +
                         2.0 * (double)type_numel(&op->result->type);
        L->digital_ps = time_digital_ps(&out->time, digital);
        for (int64_t j = 0; j < ob.replicas; j++) {
            int64_t share = (j + 1) * L->vectors / ob.replicas - j * L->vectors / ob.replicas;
            for (int64_t gi = 0; gi < ob.groups; gi++) {
                for (int rb = 0; rb < ob.n_rows; rb++) {
                    for (int cb = 0; cb < ob.n_cols; cb++) {
                        PackBlock *b = &out->blocks[out->n_blocks++];
                        b->rows = (int)(ob.rows[rb + 1] - ob.rows[rb]);
                        b->cols = (int)((ob.cols[cb + 1] - ob.cols[cb]) * ob.per_column + ob.refs);
                        b->layer = out->n_layers;
                        b->replica = (int)j;
                        b->group = (int)gi;
                        b->work = share * L->vector_ps;
                        if (j == 0)
                            L->cells += (int64_t)b->rows * b->cols;
                    }
                }
            }
        }
        out->n_layers++;
    }
    return true;
}

void mapping_macs(Arena *arena, const Graph *g, MacStats *m)
{
    memset(m, 0, sizeof *m);
    m->digital_ops = arena_array(arena, (size_t)g->n_ops + 1, sizeof(Op *));
    const Type *first = g->n_inputs ? &g->inputs[0]->type : NULL;
    double images = first && first->rank >= 2 && first->dims[0] > 0 ? (double)first->dims[0] : 1;
    for (int i = 0; i < g->n_ops; i++) {
        const Op *op = g->ops[i];
        double macs = ir_op_macs(op) / images;
        if (op->kind == OP_XBAR)
            m->crossbar += macs;
        else if (macs > 0) {
            m->digital += macs;
            m->digital_ops[m->n_digital++] = op;
        }
    }
    m->share = m->crossbar + m->digital > 0 ? m->crossbar / (m->crossbar + m->digital) : 1;
}

ReplLayer *mapping_repl_layers(Arena *arena, const MapBlocks *mb)
{
    ReplLayer *rl = arena_array(arena, (size_t)mb->n_layers + 1, sizeof(ReplLayer));
    for (int l = 0; l < mb->n_layers; l++) {
        const MapLayer *L = &mb->layers[l];
        rl[l] = (ReplLayer){.vectors = L->vectors, .vector_time = L->vector_ps, .n_blocks = L->n_blocks,
                            .blocks = &mb->blocks[L->first_block],
                            .digital = L->digital_ps > L->tail_ps ? L->digital_ps : L->tail_ps};
    }
    return rl;
}
