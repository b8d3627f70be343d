/* test_replica.c: replicated layers give the unreplicated layers' outputs.
 *
 * docs/crossbar.md 6: replica j of a layer replicated r times processes the
 * source rows [floor(j P / r), floor((j + 1) P / r)) on copies of the layer's
 * blocks, so the outputs are those of the unreplicated layer bit for bit, and
 * the reads and conversions add up to the same totals.  Random conv, gemm and
 * gemm-relu-gemm graphs (with random architectures) are lowered, calibrated,
 * quantized and mapped by the normal pipeline; then the test itself replicates
 * each layer r = 1..5 times the way the `replicate` pass will (attribute
 * `replicas`, r copies of every block on tiles of their own, adc_bits and
 * adc_max repeated), including r > P for tiny layers, where some replicas get
 * no rows.  Each replicated program must give outputs equal, bit for bit, to
 * the unreplicated program's and (with lossless ADCs) to the integer
 * reference of the interpreter, which shares no code with the emitter or the
 * simulator; the same after a write and read of the program file.  Lossy
 * ADCs (bits cut below lossless) are covered too: then saturations must match
 * as well.  The simulator shares memory between temporaries; the programs
 * here have many, so the NaNs it starts its memory with would show in the
 * outputs if a replica read rows nobody wrote. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "passes/passes.h"
#include "runtime/program.h"
#include "runtime/runtime.h"

#define TEST_SEED 0x853c49e6748fea9bull
#include "test_support.h"

/* ---- random graphs ---- */

/* A 2-D conv, grouped or not; tiny ones have one or two output pixels. */
static const char *build_conv(Graph *g, bool tiny)
{
    int64_t groups = test_uniform(1, 3), per_group_in = test_uniform(1, 12),
            out_channels = groups * test_uniform(1, 30);
    int64_t x_dims[4] = {test_uniform(1, 2), groups * per_group_in, 0, 0};
    int64_t w_dims[4] = {out_channels, per_group_in, 0, 0};
    int64_t y_dims[4] = {x_dims[0], out_channels, 0, 0};
    int64_t strides[2], pads[4] = {0, 0, 0, 0}, dilations[2] = {1, 1};
    for (int i = 0; i < 2; i++) {
        int64_t kernel = test_uniform(1, 3), in = tiny ? kernel * test_uniform(1, 2) : test_uniform(kernel, 12);
        strides[i] = tiny ? kernel : test_uniform(1, 2);         /* tiny: 1 or 2 outputs per axis */
        pads[i] = tiny ? 0 : test_uniform(0, 1);
        pads[2 + i] = pads[i];
        x_dims[2 + i] = in;
        w_dims[2 + i] = kernel;
        y_dims[2 + i] = (in + 2 * pads[i] - kernel) / strides[i] + 1;
    }
    Value *x = ir_add_input(g, "x", type_make(4, x_dims));
    Value *in[3] = {x, test_random_const(g, 4, w_dims), test_random_const(g, 1, &out_channels)};
    Op *op = ir_add_op(g, OP_CONV, in, 3, "y", type_make(4, y_dims), (Loc){0});
    ir_set_ints(g, op, "strides", strides, 2);
    ir_set_ints(g, op, "pads", pads, 4);
    ir_set_ints(g, op, "dilations", dilations, 2);
    ir_set_int(g, op, "group", groups);
    ir_add_output(g, op->result);
    return "conv";
}

static Value *add_gemm(Graph *g, Value *x, int64_t n, const char *name)
{
    int64_t m = x->type.dims[0], k = x->type.dims[1];
    int64_t w_dims[2] = {k, n}, y_dims[2] = {m, n};
    Value *in[3] = {x, test_random_const(g, 2, w_dims), test_random_const(g, 1, &n)};
    Op *op = ir_add_op(g, OP_GEMM, in, 3, name, type_make(2, y_dims), (Loc){0});
    return op->result;
}

/* Gemm rows are the batch: 1 to 3 (r up to 5 exceeds them), or up to 40. */
static const char *build_gemm(Graph *g, bool tiny)
{
    int64_t dims[2] = {tiny ? test_uniform(1, 3) : test_uniform(4, 40), test_uniform(1, 300)};
    Value *x = ir_add_input(g, "x", type_make(2, dims));
    ir_add_output(g, add_gemm(g, x, test_uniform(1, 200), "y"));
    return "gemm";
}

static const char *build_chain(Graph *g, bool tiny)
{
    int64_t dims[2] = {tiny ? test_uniform(1, 3) : test_uniform(4, 24), test_uniform(1, 200)};
    Value *x = ir_add_input(g, "x", type_make(2, dims));
    Value *h = add_gemm(g, x, test_uniform(1, 200), "h");
    Op *relu = ir_add_op(g, OP_RELU, &h, 1, "r", h->type, (Loc){0});
    ir_add_output(g, add_gemm(g, relu->result, test_uniform(1, 100), "y"));
    return "gemm-relu-gemm";
}

static void random_arch(Arch *a)
{
    *a = arch_default();
    a->rows = (int)test_uniform(16, 128);
    a->cols = (int)test_uniform(32, 128);
    a->cell_bits = (int)test_uniform(1, 4);
    a->dac_bits = (int)test_uniform(1, 4);
    a->input_bits = (int)test_uniform(a->dac_bits > 2 ? a->dac_bits : 2, 8);
    a->weight_bits = (int)test_uniform(2, 8);
    a->sign = (SignMapping)test_uniform(0, 2);
}

static void run_pipeline(Graph *g, const char *pipeline, Diags *d)
{
    PassOptions options = {0};
    bool ok = pass_run_pipeline(g, pipeline, &options, d);
    if (!ok)
        diags_print(d, stderr);
    cr_assert(ok, "pipeline %s failed", pipeline);
}

/* ---- replication, done by hand as the `replicate` pass would ---- */

typedef struct {
    int n_ops;
    Op **ops;
    const Attr **place, **adc_bits, **adc_max;     /* the unreplicated mapping */
    int64_t n_tiles;                                /* tiles it uses */
} Mapped;

static Mapped remember_mapping(Arena *arena, Graph *g)
{
    Mapped m = {.ops = arena_array(arena, (size_t)g->n_ops + 1, sizeof(Op *))};
    m.place = arena_array(arena, (size_t)g->n_ops + 1, sizeof(Attr *));
    m.adc_bits = arena_array(arena, (size_t)g->n_ops + 1, sizeof(Attr *));
    m.adc_max = arena_array(arena, (size_t)g->n_ops + 1, sizeof(Attr *));
    for (int i = 0; i < g->n_ops; i++) {
        Op *op = g->ops[i];
        if (op->dead || op->kind != OP_XBAR)
            continue;
        /* copies: ir_set_* on the op below may move its attribute array */
        Attr *copies = arena_array(arena, 3, sizeof(Attr));
        copies[0] = *ir_attr(op, "place"), copies[1] = *ir_attr(op, "adc_bits"), copies[2] = *ir_attr(op, "adc_max");
        m.ops[m.n_ops] = op;
        m.place[m.n_ops] = &copies[0], m.adc_bits[m.n_ops] = &copies[1], m.adc_max[m.n_ops] = &copies[2];
        for (int b = 0; b < copies[0].count; b += 3)
            if (copies[0].ints[b] + 1 > m.n_tiles)
                m.n_tiles = copies[0].ints[b] + 1;
        m.n_ops++;
    }
    return m;
}

/* Replicates op k r times: replica j's blocks on the tiles of the original
 * placement shifted by j times the tiles the whole graph used (the same
 * offsets inside a tile, so a packed placement stays valid); ADCs repeated.
 * `cut` lowers every block's ADC by that many bits (lossy; full scale kept). */
static void replicate(Graph *g, const Mapped *m, int k, int r, int cut)
{
    Op *op = m->ops[k];
    const Attr *place = m->place[k], *bits = m->adc_bits[k], *max = m->adc_max[k];
    int blocks = bits->count;
    int64_t *new_place = arena_array(g->arena, (size_t)(3 * blocks * r), sizeof(int64_t));
    int64_t *new_bits = arena_array(g->arena, (size_t)(blocks * r), sizeof(int64_t));
    float *new_max = arena_array(g->arena, (size_t)(blocks * r), sizeof(float));
    for (int j = 0; j < r; j++) {
        for (int b = 0; b < blocks; b++) {
            int at = j * blocks + b;
            new_place[3 * at] = place->ints[3 * b] + j * m->n_tiles;
            new_place[3 * at + 1] = place->ints[3 * b + 1];
            new_place[3 * at + 2] = place->ints[3 * b + 2];
            new_bits[at] = bits->ints[b] - cut >= 2 ? bits->ints[b] - cut : 2;
            new_max[at] = max->floats[b];
        }
    }
    if (r > 1 || ir_attr(op, "replicas"))
        ir_set_int(g, op, "replicas", r);
    ir_set_ints(g, op, "place", new_place, 3 * blocks * r);
    ir_set_ints(g, op, "adc_bits", new_bits, blocks * r);
    ir_set_floats(g, op, "adc_max", new_max, blocks * r);
}

/* ---- running programs ---- */

typedef struct {
    float *out;
    SimCounters counters;
    int n_mvm;
    int64_t n_empty;        /* mvm instructions with no rows */
    size_t bytes, unshared;
} Run;

static Run run_program(Arena *arena, const Program *p, const float *input, int64_t in_size, int64_t out_size,
                       bool fast)
{
    Run run = {.out = arena_array(arena, (size_t)out_size, sizeof(float))};
    Sim *sim = sim_new(p);
    sim_set_fast_path(sim, fast);
    memcpy(sim_input(sim, 0), input, (size_t)in_size * sizeof(float));
    sim_run(sim);
    memcpy(run.out, sim_output(sim, 0), (size_t)out_size * sizeof(float));
    run.counters = sim_counters(sim);
    sim_memory(sim, &run.bytes, &run.unshared);
    cr_assert(sim_arena_bytes(sim) <= sim_memory_bound(p), "the Sim holds %zu bytes, more than its bound %llu",
              sim_arena_bytes(sim), (unsigned long long)sim_memory_bound(p));
    sim_free(sim);
    for (int k = 0; k < p->n_instrs; k++) {
        if (p->instrs[k].opcode != INSTR_MVM)
            continue;
        run.n_mvm++;
        run.n_empty += p->instrs[k].mvm.row_begin == p->instrs[k].mvm.row_end;
    }
    return run;
}

static int64_t first_difference(const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0)
            return i;
    return -1;
}

static Program *write_and_read(Arena *arena, const Program *p, Diags *d)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/test_replica.%d.xbp", (int)getpid());
    Outputs *outs = outputs_new(arena, d);
    cr_assert(outputs_commit(outs, program_write(p, outs, path, d)));
    Program *back = program_read(arena, path, d);
    unlink(path);
    if (!back)
        diags_print(d, stderr);
    cr_assert(back, "the reader refused a replicated program");
    return back;
}

typedef struct {
    int cases, replicated_programs, lossy, empty_replicas;
} Tally;

/* One random graph, unreplicated and replicated 1..5 times per layer. */
static void run_case(int c, Tally *tally)
{
    Arena *arena = arena_new();
    Diags d;
    diags_init(&d, arena);
    Graph *g = ir_graph_new(arena, "case");
    g->arch = arena_alloc(arena, sizeof *g->arch);
    random_arch(g->arch);
    bool tiny = test_uniform(0, 2) == 0;
    int kind = (int)test_uniform(0, 2);
    const char *name = kind == 0 ? build_conv(g, tiny) : kind == 1 ? build_gemm(g, tiny) : build_chain(g, tiny);
    cr_assert(ir_verify(g, &d), "case %d: the test built an invalid graph", c);
    run_pipeline(g, lowering_pipeline, &d);
    int64_t in_size = type_numel(&g->inputs[0]->type), out_size = type_numel(&g->outputs[0]->type);
    float *calib = arena_array(arena, (size_t)(2 * in_size), sizeof(float));
    test_fill(calib, 2 * in_size, -1.0f, 1.0f);
    cr_assert(calibrate_xbar(g, calib, 2, &d));
    run_pipeline(g, "quantize", &d);
    run_pipeline(g, mapping_pipeline, &d);

    float *input = arena_array(arena, (size_t)in_size, sizeof(float));
    test_fill(input, in_size, -1.2f, 1.2f);
    Interp *ref = interp_new(g);
    memcpy(interp_input(ref, 0), input, (size_t)in_size * sizeof(float));
    interp_run(ref);
    float *want = arena_array(arena, (size_t)out_size, sizeof(float));
    memcpy(want, interp_output(ref, 0), (size_t)out_size * sizeof(float));
    interp_free(ref);

    Mapped m = remember_mapping(arena, g);
    int cut = test_uniform(0, 3) == 0 ? (int)test_uniform(1, 2) : 0;   /* lossy ADCs in a quarter of the cases */
    bool fast = test_uniform(0, 1);
    char what[200];
    snprintf(what, sizeof what, "case %d (%s%s, %s, %dx%d, %s ADCs, %s path)", c, tiny ? "tiny " : "", name,
             sign_mapping_name(g->arch->sign), g->arch->rows, g->arch->cols, cut ? "lossy" : "lossless",
             fast ? "fast" : "read-by-read");

    for (int k = 0; k < m.n_ops; k++)
        replicate(g, &m, k, 1, cut);
    Program *base = emit_program(arena, g, &d);
    cr_assert(base, "%s: emit failed", what);
    Run base_run = run_program(arena, base, input, in_size, out_size, fast);
    if (!cut) {
        int64_t at = first_difference(base_run.out, want, out_size);
        cr_assert(at < 0, "%s: unreplicated output %lld is %.9g, the integer reference %.9g", what,
                  (long long)at, at >= 0 ? base_run.out[at] : 0.0, at >= 0 ? want[at] : 0.0);
        cr_assert_eq(base_run.counters.saturated, 0, "%s", what);
    }

    for (int r = 1; r <= 5; r++) {
        /* every layer r times, or (for chains) each layer its own r */
        for (int k = 0; k < m.n_ops; k++)
            replicate(g, &m, k, k == 0 ? r : (int)test_uniform(1, 5), cut);
        Program *p = emit_program(arena, g, &d);
        if (!p)
            diags_print(&d, stderr);
        cr_assert(p, "%s: emit failed with %d replicas", what, r);
        Program *read = write_and_read(arena, p, &d);
        for (int from_file = 0; from_file <= 1; from_file++) {
            Run run = run_program(arena, from_file ? read : p, input, in_size, out_size, fast);
            int64_t at = first_difference(run.out, base_run.out, out_size);
            cr_assert(at < 0, "%s, %d replicas%s: output %lld is %.9g, unreplicated %.9g", what, r,
                      from_file ? " (read back)" : "", (long long)at, at >= 0 ? run.out[at] : 0.0,
                      at >= 0 ? base_run.out[at] : 0.0);
            cr_assert_eq(run.counters.reads, base_run.counters.reads, "%s, %d replicas: reads", what, r);
            cr_assert_eq(run.counters.conversions, base_run.counters.conversions, "%s, %d replicas: conversions",
                         what, r);
            cr_assert_eq(run.counters.saturated, base_run.counters.saturated, "%s, %d replicas: saturated", what,
                         r);
            cr_assert(run.bytes <= run.unshared, "%s: %zu bytes shared, %zu unshared", what, run.bytes,
                      run.unshared);
            tally->empty_replicas += !from_file && run.n_empty > 0;
        }
        tally->replicated_programs++;
    }
    tally->lossy += cut > 0;
    tally->cases++;
    arena_free(arena);
}

Test(replica, outputs_and_counters_match_unreplicated, .timeout = 120)
{
    Tally tally = {0};
    for (int c = 0; c < 60; c++)
        run_case(c, &tally);
    printf("test_replica: %d graphs, %d replicated programs bit-exact (%d graphs with lossy ADCs, %d programs "
           "with empty replicas)\n", tally.cases, tally.replicated_programs, tally.lossy, tally.empty_replicas);
    cr_expect_gt(tally.lossy, 0);
    cr_expect_gt(tally.empty_replicas, 0, "no case had more replicas than rows");
}

/* ---- the rows of each replica, and memory ---- */

/* A gemm of P = 7 rows, replicated 3 times: rows 0..2, 2..4, 4..7 (floor(j P / r)). */
Test(replica, row_ranges_follow_the_contract)
{
    Arena *arena = arena_new();
    Diags d;
    diags_init(&d, arena);
    Graph *g = ir_graph_new(arena, "seven");
    g->arch = arena_alloc(arena, sizeof *g->arch);
    *g->arch = arch_default();
    int64_t dims[2] = {7, 130};         /* 130 rows: two row blocks on 128-row tiles */
    Value *x = ir_add_input(g, "x", type_make(2, dims));
    ir_add_output(g, add_gemm(g, x, 16, "y"));     /* 16 columns x 4 slices x 2: one column block */
    run_pipeline(g, lowering_pipeline, &d);
    float calib[7 * 130];
    test_fill(calib, 7 * 130, 0, 1);
    cr_assert(calibrate_xbar(g, calib, 1, &d));
    run_pipeline(g, "quantize", &d);
    run_pipeline(g, mapping_pipeline, &d);
    Mapped m = remember_mapping(arena, g);
    cr_assert_eq(m.n_ops, 1);
    replicate(g, &m, 0, 3, 0);
    Program *p = emit_program(arena, g, &d);
    cr_assert(p);
    static const int64_t begin[3] = {0, 2, 4}, end[3] = {2, 4, 7};
    int n = 0;
    for (int k = 0; k < p->n_instrs; k++) {
        const Instr *in = &p->instrs[k];
        if (in->opcode != INSTR_MVM)
            continue;
        int j = n / 2, block = n;       /* 2 blocks per replica, replica-major */
        cr_expect_eq(in->mvm.row_begin, begin[j], "mvm %d", n);
        cr_expect_eq(in->mvm.row_end, end[j], "mvm %d", n);
        cr_expect_eq(in->mvm.tile, m.place[0]->ints[3 * (block % 2)] + j * m.n_tiles, "mvm %d tile", n);
        const Instr *comb = &p->instrs[k + 1];
        cr_assert_eq(comb->opcode, INSTR_COMBINE);
        cr_expect(comb->combine.row_begin == begin[j] && comb->combine.row_end == end[j], "combine %d", n);
        cr_expect_eq(comb->combine.accumulate, block % 2 == 1);
        n++;
    }
    cr_expect_eq(n, 6);
    cr_expect_eq(p->n_tiles, 6);

    /* the listing shows the rows of each replica */
    char *text = NULL;
    size_t length = 0;
    FILE *out = open_memstream(&text, &length);
    program_explain(p, out);
    fclose(out);
    cr_expect(strstr(text, "pixels=2..4"), "%s", text);
    cr_expect(strstr(text, "write pixels=4..7"), "%s", text);
    free(text);
    arena_free(arena);
}

/* Block buffers die at their combine: with 16 of them the simulator needs far
 * less than one buffer each, and a bad replica mapping is refused by name. */
Test(replica, memory_is_shared_and_mistakes_are_named)
{
    Arena *arena = arena_new();
    Diags d;
    diags_init(&d, arena);
    Graph *g = ir_graph_new(arena, "wide");
    g->arch = arena_alloc(arena, sizeof *g->arch);
    *g->arch = arch_default();
    g->arch->rows = g->arch->cols = 32;
    int64_t dims[2] = {50, 64};
    Value *x = ir_add_input(g, "x", type_make(2, dims));
    ir_add_output(g, add_gemm(g, x, 16, "y"));     /* 16 columns x 8 physical: 4 per block, 2 row blocks */
    run_pipeline(g, lowering_pipeline, &d);
    float *calib = arena_array(arena, 50 * 64, sizeof(float));
    test_fill(calib, 50 * 64, 0, 1);
    cr_assert(calibrate_xbar(g, calib, 1, &d));
    run_pipeline(g, "quantize", &d);
    run_pipeline(g, mapping_pipeline, &d);
    Mapped m = remember_mapping(arena, g);
    replicate(g, &m, 0, 2, 0);
    Program *p = emit_program(arena, g, &d);
    cr_assert(p);
    Run run = run_program(arena, p, calib, 50 * 64, 50 * 16, true);
    cr_expect_eq(run.n_mvm, 16);
    /* every block buffer is 50 x 16 f32 (3200 bytes, pair-analog: 32 physical
     * columns, 16 pairs); one buffer each needs 16 of them, shared: one. */
    cr_expect_gt(run.unshared - run.bytes, 14 * 3200, "%zu bytes shared, %zu unshared", run.bytes, run.unshared);

    /* the emitter names a place list that does not hold r copies */
    const Attr *place = ir_attr(m.ops[0], "place");
    ir_set_ints(g, m.ops[0], "place", place->ints, place->count - 3);
    diags_init(&d, arena);
    cr_expect_null(emit_program(arena, g, &d));
    cr_assert(d.first);
    cr_expect(strstr(d.first->text, "16 blocks (2 replicas), but place has 45 entries"), "%s", d.first->text);
    ir_set_int(g, m.ops[0], "replicas", 0);
    diags_init(&d, arena);
    cr_expect_null(emit_program(arena, g, &d));
    cr_expect(d.first && strstr(d.first->text, "attribute 'replicas' must be an integer >= 1"));
    arena_free(arena);
}
