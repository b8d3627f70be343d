/* test_sim_geometry.c: the simulator on the geometries real models have.
 *
 * test_bitexact.c draws hundreds of small layers; a defect that needs more
 * than 512 output pixels (the simulator's tile of source rows) or K in the
 * thousands slipped through it (issue 9: a folded block's accumulator shared
 * memory with the im2col buffer it was still reading).  Here every layer is
 * compiled the way `xbarc compile` does it (lowering, calibration on random
 * inputs, quantize, the mapping passes with a packing and replicated copies,
 * emission) and run on an ideal chip; its outputs must equal the integer
 * reference (the interpreter on the quantized graph) bit for bit, and in
 * check mode (runtime/sim_check.c) every block must agree with the reference
 * through every path it can take.
 *   - first layers of the bundled and zoo models, and of CIFAR nets:
 *     3-channel 3x3, 5x5, 7x7 and 11x11 convs on 28x28 to 224x224;
 *   - random layers: output sizes up to 112x112, K from 3 to 4608, N from 1
 *     to 1024, every sign mapping, crossbars of 64 to 512, packings and 1 to
 *     3 copies, within a budget of multiply-adds per case. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "backend/backend.h"
#include "passes/passes.h"
#include "runtime/runtime.h"
#include "runtime/kernels.h"
#include "runtime/pool.h"
#include "runtime/quant.h"
#include "runtime/sim_int.h"
#include "test_support.h"

typedef struct {
    const char *name;
    int64_t batch, in_channels, in_size, out_channels, kernel, stride, pad;
} ConvShape;

static Graph *conv_graph(Arena *arena, const ConvShape *s)
{
    Graph *g = ir_graph_new(arena, s->name);
    int64_t out = (s->in_size + 2 * s->pad - s->kernel) / s->stride + 1;
    int64_t x_dims[4] = {s->batch, s->in_channels, s->in_size, s->in_size};
    int64_t w_dims[4] = {s->out_channels, s->in_channels, s->kernel, s->kernel};
    int64_t y_dims[4] = {s->batch, s->out_channels, out, out};
    Value *in[3] = {ir_add_input(g, "x", type_make(4, x_dims)), test_random_const(g, 4, w_dims),
                    test_random_const(g, 1, &s->out_channels)};
    Op *op = ir_add_op(g, OP_CONV, in, 3, "y", type_make(4, y_dims), (Loc){0});
    int64_t strides[2] = {s->stride, s->stride}, pads[4] = {s->pad, s->pad, s->pad, s->pad};
    ir_set_ints(g, op, "strides", strides, 2);
    ir_set_ints(g, op, "pads", pads, 4);
    ir_add_output(g, op->result);
    return g;
}

/* x [rows, K] times a constant [K, N]: a Linear layer over `rows` tokens. */
static Graph *matmul_graph(Arena *arena, int64_t rows, int64_t k, int64_t n)
{
    Graph *g = ir_graph_new(arena, "matmul");
    int64_t x_dims[2] = {rows, k}, w_dims[2] = {k, n}, y_dims[2] = {rows, n};
    Value *in[2] = {ir_add_input(g, "x", type_make(2, x_dims)), test_random_const(g, 2, w_dims)};
    Op *op = ir_add_op(g, OP_MATMUL, in, 2, "y", type_make(2, y_dims), (Loc){0});
    ir_add_output(g, op->result);
    return g;
}

typedef struct {
    const char *packing;        /* none, dense or balanced */
    int copies;                 /* replicas of the layer */
    bool check;                 /* check mode too (slow: every read of the reference) */
    bool signed_inputs;
} Mapping;

static bool run_passes(Graph *g, const char *pipeline, Diags *d)
{
    PassOptions options = {0};
    if (pass_run_pipeline(g, pipeline, &options, d))
        return true;
    diags_print(d, stderr);
    return false;
}

/* Compiles g as `xbarc compile` would and runs it; asserts the bits. */
static void compile_and_compare(Arena *arena, Graph *g, const Arch *arch, const Mapping *m, const char *what)
{
    Diags d;
    diags_init(&d, arena);
    g->arch = arena_alloc(arena, sizeof *g->arch);
    *g->arch = *arch;
    bool verified = ir_verify(g, &d);
    if (!verified)
        diags_print(&d, stderr);
    cr_assert(verified && run_passes(g, lowering_pipeline, &d), "%s: lowering failed", what);
    int64_t size = type_numel(&g->inputs[0]->type);
    float lo = m->signed_inputs ? -1.0f : 0.0f;
    float *images = arena_array(arena, (size_t)size * 2, sizeof(float));
    test_fill(images, 2 * size, lo, 1.0f);
    cr_assert(calibrate_xbar(g, images, 2, &d), "%s: calibration failed", what);
    const char *split = strcmp(m->packing, "none") == 0 ? "split" : "split{mode=full}";
    const char *pipeline = arena_printf(arena, "quantize,sign-map,bit-slice,%s,replicate{layers=y:%d},"
                                               "place{packing=%s},adc-lossless",
                                        split, m->copies, m->packing);
    cr_assert(run_passes(g, pipeline, &d), "%s: mapping failed", what);
    Program *p = emit_program(arena, g, &d);
    if (!p)
        diags_print(&d, stderr);
    cr_assert(p, "%s: emission failed", what);

    /* inputs a little wider than calibration: some codes clip */
    float *input = arena_array(arena, (size_t)size, sizeof(float));
    test_fill(input, size, lo * 1.25f, 1.25f);
    Interp *ref = interp_new(g);
    memcpy(interp_input(ref, 0), input, (size_t)size * sizeof(float));
    interp_run(ref);
    /* check mode (the float im2col) when asked, then on 1 to 3 threads
     * without it (a conv's patches gathered a chunk at a time, run_patches) */
    for (int threads = m->check ? 0 : 1; threads <= 3; threads++) {
        Sim *sim = sim_new(p);
        sim_set_check(sim, threads == 0);
        cr_assert(sim_set_threads(sim, threads));
        memcpy(sim_input(sim, 0), input, (size_t)size * sizeof(float));
        sim_run(sim);
        cr_assert(!sim_check_error(sim), "%s: %s", what, sim_check_error(sim));
        int64_t n = type_numel(&g->outputs[0]->type), first = -1;
        const float *got = sim_output(sim, 0), *want = interp_output(ref, 0);
        for (int64_t i = 0; i < n && first < 0; i++)
            if (memcmp(&got[i], &want[i], sizeof(float)) != 0)
                first = i;
        float got_first = first >= 0 ? got[first] : 0, want_first = first >= 0 ? want[first] : 0;
        sim_free(sim);
        cr_assert(first < 0, "%s, %d threads%s: output %lld of %lld is %.9g, the integer reference %.9g", what,
                  threads, threads == 0 ? " (check mode)" : "", (long long)first, (long long)n, got_first, want_first);
    }
    interp_free(ref);
}

/* The cost of the reference's reads (check mode) and of the integer
 * reference, in multiply-adds. */
static double check_cost(int64_t pixels, int64_t k, int64_t n, const Arch *a)
{
    int slices = (a->weight_bits - 1 + a->cell_bits - 1) / a->cell_bits;
    int cycles = (a->input_bits + a->dac_bits - 1) / a->dac_bits;
    return (double)pixels * (double)k * (double)n * slices * 2 * cycles;
}

Test(geometry, first_layers, .timeout = 600)
{
    static const ConvShape shapes[] = {
        {"cifar-resnet conv1", 1, 3, 32, 16, 3, 1, 1},     /* the case of issue 9 */
        {"conv 3x3 64x64", 1, 3, 64, 16, 3, 1, 1},
        {"lenet5 conv1", 2, 1, 28, 6, 5, 1, 0},
        {"mobilenet conv1", 1, 3, 224, 32, 3, 2, 1},
        {"resnet conv1", 1, 3, 224, 64, 7, 2, 3},
        {"squeezenet conv1", 1, 3, 224, 64, 3, 2, 0},
        {"alexnet conv1", 1, 3, 224, 64, 11, 4, 2},
        {"vgg conv1", 1, 3, 224, 64, 3, 1, 1},
    };
    static const char *const packings[] = {"none", "dense", "balanced"};
    test_seed(11);
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int sign = 0; sign < 3; sign++) {
            Arena *arena = arena_new();
            Arch arch = arch_default();
            arch.sign = (SignMapping)sign;
            const ConvShape *s = &shapes[i];
            int64_t out = (s->in_size + 2 * s->pad - s->kernel) / s->stride + 1;
            int64_t k = s->in_channels * s->kernel * s->kernel;
            Mapping m = {.packing = packings[(i + (size_t)sign) % 3], .copies = 1 + (int)((i + (size_t)sign) % 3),
                         .signed_inputs = sign == 1};
            m.check = check_cost(s->batch * out * out, k, s->out_channels, &arch) < 2e8;
            char what[200];
            snprintf(what, sizeof what, "%s (%s, packing %s, %d copies%s)", s->name, sign_mapping_name(arch.sign),
                     m.packing, m.copies, m.check ? ", check mode" : "");
            compile_and_compare(arena, conv_graph(arena, s), &arch, &m, what);
            arena_free(arena);
        }
    /* Linear(3, 16) over 1024 tokens: one column block, K < 2N, > 512 rows */
    Arena *arena = arena_new();
    Arch arch = arch_default();
    Mapping m = {.packing = "none", .copies = 1, .check = true};
    compile_and_compare(arena, matmul_graph(arena, 1024, 3, 16), &arch, &m, "linear 3x16 over 1024 rows");
    arena_free(arena);
}

/* A residual block's digital ops around a 3x3 conv at ResNet-18's 56x56:
 * relu(conv(x)) + x, a ReLU and a 3x3/2 max pool, each large enough to be
 * split over the pool's threads (interp_exec_op_part), and the conv's
 * 576-row K in row blocks that sum as chains (sim_threads.c), with every
 * version of the integer product. */
static Graph *residual_graph(Arena *arena)
{
    Graph *g = ir_graph_new(arena, "residual");
    int64_t x_dims[4] = {1, 64, 56, 56}, w_dims[4] = {64, 64, 3, 3}, c = 64, pool_dims[4] = {1, 64, 28, 28};
    Value *x = ir_add_input(g, "x", type_make(4, x_dims));
    Value *in[3] = {x, test_random_const(g, 4, w_dims), test_random_const(g, 1, &c)};
    Op *conv = ir_add_op(g, OP_CONV, in, 3, "y", type_make(4, x_dims), (Loc){0});
    int64_t ones[2] = {1, 1}, pads[4] = {1, 1, 1, 1}, kernel[2] = {3, 3}, twos[2] = {2, 2};
    ir_set_ints(g, conv, "strides", ones, 2);
    ir_set_ints(g, conv, "pads", pads, 4);
    Op *relu = ir_add_op(g, OP_RELU, &conv->result, 1, "relu1", type_make(4, x_dims), (Loc){0});
    Value *sum_in[2] = {relu->result, x};
    Op *add = ir_add_op(g, OP_ADD, sum_in, 2, "sum", type_make(4, x_dims), (Loc){0});
    Op *relu2 = ir_add_op(g, OP_RELU, &add->result, 1, "relu2", type_make(4, x_dims), (Loc){0});
    Op *pool = ir_add_op(g, OP_MAXPOOL, &relu2->result, 1, "pooled", type_make(4, pool_dims), (Loc){0});
    ir_set_ints(g, pool, "kernel", kernel, 2);
    ir_set_ints(g, pool, "strides", twos, 2);
    ir_set_ints(g, pool, "pads", pads, 4);
    ir_add_output(g, pool->result);
    return g;
}

Test(geometry, residual_block_threads, .timeout = 600)
{
    test_seed(15);
    for (int v = 0; v < INT_KERNEL_COUNT; v++) {
        if (!int_kernel_supported((IntKernel)v))
            continue;
        Arena *arena = arena_new();
        Arch arch = arch_default();
        Mapping m = {.packing = "none", .copies = 1};
        int_kernel_force((IntKernel)v);
        char what[100];
        snprintf(what, sizeof what, "residual block at 56x56, %s products", int_kernel_name((IntKernel)v));
        compile_and_compare(arena, residual_graph(arena), &arch, &m, what);
        int_kernel_force(INT_KERNEL_COUNT);
        arena_free(arena);
    }
}

/* pool_run_parts runs every part once, on a worker of the pool, for more
 * parts than workers, fewer, and none. */
typedef struct {
    atomic_int *runs;
    atomic_int *bad;
    int workers;
} PartCount;

static void count_part(void *context, int worker, int part, int parts)
{
    PartCount *c = context;
    if (worker < 0 || worker >= c->workers || part < 0 || part >= parts)
        atomic_fetch_add(c->bad, 1);
    else
        atomic_fetch_add(&c->runs[part], 1);
}

Test(pool, parts_run_once)
{
    for (int threads = 1; threads <= 3; threads++) {
        Pool *pool = pool_new(threads);
        cr_assert(pool);
        int counts[] = {0, 1, 2, 7, 1000};
        for (size_t t = 0; t < sizeof counts / sizeof *counts; t++) {
            int parts = counts[t];
            atomic_int runs[1000], bad;
            for (int i = 0; i < parts; i++)
                atomic_init(&runs[i], 0);
            atomic_init(&bad, 0);
            PartCount c = {runs, &bad, threads};
            pool_run_parts(threads == 1 ? NULL : pool, parts, count_part, &c);
            cr_assert(atomic_load(&bad) == 0, "%d threads, %d parts: a part or worker out of range", threads, parts);
            for (int i = 0; i < parts; i++)
                cr_assert(atomic_load(&runs[i]) == 1, "%d threads, %d parts: part %d ran %d times", threads, parts,
                          i, atomic_load(&runs[i]));
        }
        pool_free(pool);
    }
}

/* Random layers until both floors are met or the time budget is spent. */
Test(geometry, random_layers, .timeout = 600)
{
    static const int sizes[] = {64, 128, 256, 512};
    static const char *const packings[] = {"none", "dense", "balanced"};
    test_seed(0x5eed);
    double start = test_seconds();
    int cases = 0, checked = 0, big_k = 0, big_p = 0;
    while ((cases < 300 || checked < 100) && test_seconds() - start < 25.0) {
        Arena *arena = arena_new();
        Arch arch = arch_default();
        arch.rows = sizes[test_uniform(0, 3)];
        arch.cols = sizes[test_uniform(0, 3)];
        arch.cell_bits = (int)test_uniform(1, 4);
        arch.dac_bits = (int)test_uniform(1, 4);
        arch.input_bits = (int)test_uniform(arch.dac_bits > 4 ? arch.dac_bits : 4, 8);
        arch.weight_bits = (int)test_uniform(4, 8);
        arch.sign = (SignMapping)test_uniform(0, 2);
        int64_t k = test_log_uniform(3, 4608), n = test_log_uniform(1, 1024);
        bool conv = test_uniform(0, 1);
        int64_t kernel = conv ? (int64_t[]){1, 3, 5, 7}[test_uniform(0, 3)] : 1;
        int64_t in_channels = k / (kernel * kernel) > 0 ? k / (kernel * kernel) : 1;
        k = in_channels * kernel * kernel;
        /* output pixels up to 112 x 112, fewer when K and N are large */
        int64_t side = test_log_uniform(1, 112);
        while (side > 1 && (double)side * side * k * n > 3e7)
            side--;
        Mapping m = {.packing = packings[test_uniform(0, 2)], .copies = (int)test_uniform(1, 3),
                     .signed_inputs = test_uniform(0, 1)};
        m.check = check_cost(side * side, k, n, &arch) < 5e7;
        Graph *g;
        char what[300];
        if (conv) {
            int64_t stride = test_uniform(1, 2), pad = kernel / 2;
            ConvShape s = {"conv", 1, in_channels, (side - 1) * stride + kernel - 2 * pad, n, kernel, stride, pad};
            g = conv_graph(arena, &s);
            snprintf(what, sizeof what, "conv %lldx%lld %lldx%lld/%lld on %lldx%lld -> %lld ch",
                     (long long)in_channels, (long long)kernel, (long long)kernel, (long long)kernel,
                     (long long)stride, (long long)s.in_size, (long long)s.in_size, (long long)n);
        } else {
            g = matmul_graph(arena, side * side, k, n);
            snprintf(what, sizeof what, "matmul [%lld x %lld] x [%lld x %lld]", (long long)(side * side),
                     (long long)k, (long long)k, (long long)n);
        }
        snprintf(what + strlen(what), sizeof what - strlen(what),
                 " (case %d: %dx%d, cell %d, dac %d, input %d, weight %d bits, %s, packing %s, %d copies%s)", cases,
                 arch.rows, arch.cols, arch.cell_bits, arch.dac_bits, arch.input_bits, arch.weight_bits,
                 sign_mapping_name(arch.sign), m.packing, m.copies, m.check ? ", check mode" : "");
        /* each version of the integer product in turn (the check mode's
         * reference and the other paths must agree with every one) */
        IntKernel version = (IntKernel)(cases % INT_KERNEL_COUNT);
        version = int_kernel_supported(version) ? version : INT_KERNEL_SCALAR;
        int_kernel_force(version);
        snprintf(what + strlen(what), sizeof what - strlen(what), ", %s products", int_kernel_name(version));
        compile_and_compare(arena, g, &arch, &m, what);
        int_kernel_force(INT_KERNEL_COUNT);
        arena_free(arena);
        cases++;
        checked += m.check;
        big_k += k >= 1024;
        big_p += side * side > 512;
    }
    printf("test_sim_geometry: %d random layers bit-exact (%d in check mode, %d with K >= 1024, %d with more "
           "than 512 output rows) in %.1f s\n", cases, checked, big_k, big_p, test_seconds() - start);
    cr_assert(cases >= 20 && checked >= 5 && big_k >= 3 && big_p >= 3,
              "too few cases: %d (%d checked, %d big K, %d big P)", cases, checked, big_k, big_p);
}

/* A convolution's patches gathered from its source's codes a chunk at a
 * time (int_patches_gather) against the float im2col (kernel_im2col) of the
 * same codes, converted whole: 1-D to 3-D, strides, pads, dilations,
 * channels of several groups, u8 codes with an offset and s16 codes, chunks
 * of any rows (a quarter of the layers with a 3 x 3 window, stride 1 along its lines:
 * gather_six); and from the codes padded by int_codes_convert_padded in 1
 * to 3 parts. */
Test(geometry, patches_equal_im2col)
{
    test_seed(0x9a7c);
    for (int trial = 0; trial < 400; trial++) {
        Arena *arena = arena_new();
        Im2colParams q = {.spatial = (int)test_uniform(1, 3), .batch = test_uniform(1, 2),
                          .channels = test_uniform(1, 6), .group = 1};
        bool three = trial % 4 == 2 || trial % 8 == 4;  /* u8 codes: see below */
        q.spatial = three && q.spatial == 1 ? 2 : q.spatial;
        ConvParams c = {.spatial = q.spatial, .batch = q.batch, .in_channels = q.channels, .group = 1};
        int64_t plane = 1, pixels = 1, taps = 1;
        for (int i = 0; i < q.spatial; i++) {
            q.kernel[i] = test_uniform(1, q.spatial == 3 ? 3 : 7);
            q.strides[i] = test_uniform(1, 3);
            q.dilations[i] = test_uniform(1, 3);
            q.pads[i] = test_uniform(0, 3);
            q.pads[q.spatial + i] = test_uniform(0, 3);
            if (three && q.spatial >= 2 && i >= q.spatial - 2) {      /* 3 x 3, stride 1 along a line */
                q.kernel[i] = 3;
                q.dilations[i] = 1;
                q.strides[i] = i == q.spatial - 1 ? 1 : q.strides[i];
            }
            int64_t span = (q.kernel[i] - 1) * q.dilations[i] + 1;
            q.in[i] = test_uniform(span > q.pads[i] + q.pads[q.spatial + i] ? span - q.pads[i] - q.pads[q.spatial + i]
                                                                               : 1, q.spatial == 3 ? 8 : 20);
            q.out[i] = (q.in[i] + q.pads[i] + q.pads[q.spatial + i] - span) / q.strides[i] + 1;
            c.in[i] = q.in[i], c.kernel[i] = q.kernel[i], c.out[i] = q.out[i], c.strides[i] = q.strides[i];
            c.dilations[i] = q.dilations[i], c.pads[i] = q.pads[i], c.pads[q.spatial + i] = q.pads[q.spatial + i];
            plane *= q.in[i], pixels *= q.out[i], taps *= q.kernel[i];
        }
        int64_t numel = q.batch * q.channels * plane, rows = q.batch * pixels, width = q.channels * taps;
        bool u8 = trial % 2 == 0;
        IntWeights iw = {.kind = u8 ? INT_CODES_U8 : INT_CODES_S16, .code_offset = u8 && trial % 4 == 0 ? 128 : 0};
        float bottom = iw.code_offset || !u8 ? -127 : 0, top = u8 && !iw.code_offset ? 255 : 127;
        float *x = arena_array(arena, (size_t)numel, sizeof *x);
        for (int64_t i = 0; i < numel; i++)     /* integer codes, some beyond the DACs' range */
            x[i] = (float)test_uniform((int64_t)bottom - 9, (int64_t)top + 9);
        float *cols = arena_array(arena, (size_t)(rows * width), sizeof *cols);
        kernel_im2col(&c, x, cols);
        size_t bytes = int_code_bytes(iw.kind);
        char *want = arena_alloc(arena, (size_t)(rows * width + INT_CODES_PAD) * bytes);
        char *codes = arena_alloc(arena, (size_t)(numel + INT_CODES_PAD) * bytes);
        char *got = arena_alloc(arena, (size_t)(rows * width + INT_CODES_PAD) * bytes);
        int16_t pad[1 + INT_CODES_PAD];
        float zero = 0;
        cr_assert(int_codes_convert(&iw, cols, width, (int)rows, (int)width, bottom, top, want));
        cr_assert(int_codes_convert(&iw, x, numel, 1, (int)numel, bottom, top, codes));
        int_codes_convert(&iw, &zero, 1, 1, 1, bottom, top, pad);
        for (int64_t p0 = 0, n; p0 < rows; p0 += n) {
            n = test_uniform(1, rows - p0);
            int_patches_gather(&q, iw.kind, codes, u8 ? *(uint8_t *)pad : pad[0], p0, n,
                               got + (size_t)(p0 * width) * bytes);
        }
        cr_assert(memcmp(got, want, (size_t)(rows * width) * bytes) == 0,
                  "trial %d: %d-D, %lld channels, the patches differ from the im2col", trial, q.spatial,
                  (long long)q.channels);
        /* the same from the padded codes, converted by 1 to 3 parts in an
         * order of their own (last first: a part writing outside its share
         * is overwritten or overwrites) */
        Im2colParams padded;
        int_codes_padded_geometry(&q, &padded);
        int parts = (int)test_uniform(1, 3);
        char *grown = arena_alloc(arena, (size_t)(int_codes_padded_numel(&q) + INT_CODES_PAD) * bytes);
        memset(grown, 0x5a, (size_t)(int_codes_padded_numel(&q) + INT_CODES_PAD) * bytes);
        for (int part = parts - 1; part >= 0; part--)
            cr_assert(int_codes_convert_padded(&q, &iw, x, NULL, bottom, top, u8 ? *(uint8_t *)pad : pad[0], grown,
                                               part, parts));
        memset(got, 0, (size_t)(rows * width) * bytes);
        int_patches_gather(&padded, iw.kind, grown, 0x5a, 0, rows, got);
        cr_assert(memcmp(got, want, (size_t)(rows * width) * bytes) == 0,
                  "trial %d: %d-D, %d parts, the patches of the padded codes differ from the im2col", trial,
                  q.spatial, parts);
        for (int b = 0; b < INT_CODES_PAD * (int)bytes; b++)
            cr_assert(grown[int_codes_padded_numel(&q) * (int64_t)bytes + b] == 0, "trial %d: the padding after the codes",
                      trial);
        /* a Quant done on the way: activations (NaNs, values past the
         * codes' range) quantized by quant_code, the integer reference's
         * rule, then padded, against the padded codes made from them */
        float scale = (float)test_uniform(1, 1000) / 256.0f;
        int32_t qmax = u8 && !iw.code_offset ? 255 : 127, qmin = u8 && !iw.code_offset ? 0 : -127;
        CodeQuant quant = {.scale = scale, .bottom = (float)qmin, .top = (float)qmax};
        float *act = arena_array(arena, (size_t)numel, sizeof *act);
        for (int64_t i = 0; i < numel; i++) {
            act[i] = (float)test_uniform(-300 * 256, 300 * 256) / 256.0f * scale;
            act[i] = i % 17 == 5 ? NAN : act[i];
            x[i] = (float)quant_code(act[i], scale, qmin, qmax);
        }
        char *quantized = arena_alloc(arena, (size_t)(int_codes_padded_numel(&q) + INT_CODES_PAD) * bytes);
        for (int part = 0; part < parts; part++) {
            cr_assert(int_codes_convert_padded(&q, &iw, x, NULL, bottom, top, u8 ? *(uint8_t *)pad : pad[0], grown,
                                               part, parts));
            cr_assert(int_codes_convert_padded(&q, &iw, act, &quant, bottom, top, u8 ? *(uint8_t *)pad : pad[0],
                                               quantized, part, parts));
        }
        cr_assert(memcmp(quantized, grown, (size_t)(int_codes_padded_numel(&q) + INT_CODES_PAD) * bytes) == 0,
                  "trial %d: codes quantized on the way differ from the quantized codes converted", trial);
        arena_free(arena);
    }
}

/* Check mode must be able to fail: a chip whose folded weights no longer
 * match its tile (levels changed after the Sim was made) is caught, with the
 * instruction, the row and both values named; without check mode the run
 * goes on silently. */
Test(check_mode, finds_a_difference)
{
    Arena *arena = arena_new();
    Diags d;
    diags_init(&d, arena);
    test_seed(3);
    Graph *g = matmul_graph(arena, 600, 20, 8);
    g->arch = arena_alloc(arena, sizeof *g->arch);
    *g->arch = arch_default();
    float images[2 * 600 * 20];
    test_fill(images, 2 * 600 * 20, 0.0f, 1.0f);
    cr_assert(run_passes(g, lowering_pipeline, &d) && calibrate_xbar(g, images, 2, &d) &&
              run_passes(g, "quantize", &d) && run_passes(g, mapping_pipeline, &d));
    Program *p = emit_program(arena, g, &d);
    cr_assert(p);
    for (int pass = 0; pass < 2; pass++) {
        Sim *sim = sim_new(p);
        sim_set_check(sim, pass == 1);
        memcpy(sim_input(sim, 0), images, sizeof(float) * 600 * 20);
        uint8_t *level = &p->tiles[0].levels[5 * p->tiles[0].cols + 2];
        uint8_t old = *level;
        *level = old ? 0 : 1;   /* the run's weights were folded from the old level */
        sim_run(sim);
        *level = old;
        if (pass == 0)
            cr_assert_null(sim_check_error(sim));
        else {
            const char *why = sim_check_error(sim);
            cr_assert(why && strstr(why, "instruction") && strstr(why, "the run"), "check mode said: %s",
                      why ? why : "nothing");
        }
        sim_free(sim);
    }
    arena_free(arena);
}
