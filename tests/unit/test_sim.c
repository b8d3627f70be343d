/* test_sim.c: the crossbar simulator against independent references.
 *
 * Programs come from sim_fixture.h, with their own slicing of weights into
 * cell levels.  With lossless ADCs the output must equal, bit for bit, the
 * integer computation of docs/crossbar.md 3; float mode is checked against
 * kernel_gemm; digital ops after a layer against their definitions.  Lossy
 * ADCs and row ranges are in test_sim_adc.c. */
#include "sim_fixture.h"

Test(sim, matmul_bit_exact_all_mappings)
{
    static const SignMapping signs[] = {SIGN_PAIR_ANALOG, SIGN_PAIR_DIGITAL, SIGN_OFFSET};
    int cases = 0;
    for (int si = 0; si < 3; si++)
    for (int cell_bits = 1; cell_bits <= 4; cell_bits++)
    for (int dac_bits = 1; dac_bits <= 8; dac_bits++)
    for (int in_signed = 0; in_signed <= 1; in_signed++) {
        Mapping m = {
            .sign = signs[si], .cell_bits = cell_bits, .dac_bits = dac_bits,
            .weight_bits = cases % 3 == 0 ? (int)test_uniform(2, 8) : 8,
            .in_bits = cases % 4 == 0 ? (int)test_uniform(2, 8) : 8, .in_signed = in_signed,
            .xbar_rows = 32 << (int)test_uniform(0, 2), .xbar_cols = 64,
            .col_block = (int)test_uniform(0, 3), .half_step = cases % 5 == 0,
        };
        m.row_block = (int)test_uniform(m.xbar_rows / 2, m.xbar_rows);
        check_matmul(&m, (int)test_uniform(1, 6), (int)test_uniform(1, 300), (int)test_uniform(1, 40));
        cases++;
    }
    cr_expect_eq(cases, 192);
}

/* Sums past 2^24 in one MVM (8-bit cells, 8-bit DACs, 2048 rows per block)
 * with result buffers declared f32; and 28- and 29-bit lossless ADCs, whose
 * full scale 2^bits - 1 a float cannot hold. */
Test(sim, matmul_bit_exact_large_sums)
{
    Mapping m = {
        .sign = SIGN_OFFSET, .cell_bits = 8, .dac_bits = 8, .weight_bits = 8,
        .in_bits = 8, .xbar_rows = 2048, .xbar_cols = 16, .row_block = 2048,
        .narrow_results = true,
    };
    check_matmul(&m, 3, 3000, 5);
    m.sign = SIGN_PAIR_ANALOG;
    m.in_signed = true;
    check_matmul(&m, 3, 2100, 5);
}

/* ---- a quantized conv layer through im2col ---- */

typedef struct {
    int spatial, batch, channels, group, cout;
    int64_t in[3], kernel[3], strides[3], dilations[3], pads[6];
} ConvCase;

static int64_t conv_out(const ConvCase *cc, int i)
{
    int64_t span = cc->dilations[i] * (cc->kernel[i] - 1) + 1;
    return (cc->in[i] + cc->pads[i] + cc->pads[cc->spatial + i] - span) / cc->strides[i] + 1;
}

/* Direct convolution of codes by w_q ([G, K, N] with K ordered (c, taps)), in
 * int64, with every index bounds-tested: a 3-D loop nest with unit leading
 * extents for 1-D and 2-D. */
static void naive_conv(const ConvCase *cc, const int *codes, const float *w, int64_t *acc)
{
    int lead = 3 - cc->spatial;
    int64_t in[3] = {1, 1, 1}, ker[3] = {1, 1, 1}, out[3] = {1, 1, 1}, st[3] = {1, 1, 1},
            dil[3] = {1, 1, 1}, pb[3] = {0, 0, 0};
    for (int i = 0; i < cc->spatial; i++) {
        in[lead + i] = cc->in[i];
        ker[lead + i] = cc->kernel[i];
        out[lead + i] = conv_out(cc, i);
        st[lead + i] = cc->strides[i];
        dil[lead + i] = cc->dilations[i];
        pb[lead + i] = cc->pads[i];
    }
    int cg = cc->channels / cc->group, ng = cc->cout / cc->group;
    int64_t taps = ker[0] * ker[1] * ker[2], K = cg * taps;
    int64_t in_plane = in[0] * in[1] * in[2], out_plane = out[0] * out[1] * out[2];
    for (int b = 0; b < cc->batch; b++)
    for (int oc = 0; oc < cc->cout; oc++) {
        int g = oc / ng;
        for (int64_t o0 = 0; o0 < out[0]; o0++)
        for (int64_t o1 = 0; o1 < out[1]; o1++)
        for (int64_t o2 = 0; o2 < out[2]; o2++) {
            int64_t sum = 0;
            for (int c = 0; c < cg; c++)
            for (int64_t k0 = 0; k0 < ker[0]; k0++)
            for (int64_t k1 = 0; k1 < ker[1]; k1++)
            for (int64_t k2 = 0; k2 < ker[2]; k2++) {
                int64_t i0 = o0 * st[0] - pb[0] + k0 * dil[0];
                int64_t i1 = o1 * st[1] - pb[1] + k1 * dil[1];
                int64_t i2 = o2 * st[2] - pb[2] + k2 * dil[2];
                if (i0 < 0 || i0 >= in[0] || i1 < 0 || i1 >= in[1] || i2 < 0 || i2 >= in[2])
                    continue;
                int64_t x = codes[((int64_t)b * cc->channels + g * cg + c) * in_plane +
                                  (i0 * in[1] + i1) * in[2] + i2];
                int64_t k = c * taps + (k0 * ker[1] + k1) * ker[2] + k2;
                sum += x * (int64_t)w[((int64_t)g * K + k) * ng + oc % ng];
            }
            acc[((int64_t)b * cc->cout + oc) * out_plane + (o0 * out[1] + o1) * out[2] + o2] = sum;
        }
    }
}

static void check_conv(const Mapping *m, const ConvCase *cc)
{
    Arena *arena = arena_new();
    int G = cc->group, N = cc->cout / G;
    int64_t taps = 1, pixels = 1, in_plane = 1;
    for (int i = 0; i < cc->spatial; i++) {
        taps *= cc->kernel[i];
        pixels *= conv_out(cc, i);
        in_plane *= cc->in[i];
    }
    int K = (int)(cc->channels / G * taps);
    int64_t P = cc->batch * pixels, n_in = cc->batch * cc->channels * in_plane;
    int64_t n_out = cc->batch * cc->cout * pixels;
    float *w = arena_array(arena, (size_t)G * K * N, sizeof(float));
    float *x = arena_array(arena, (size_t)n_in, sizeof(float));
    int *codes = arena_array(arena, (size_t)n_in, sizeof(int));
    int64_t *acc = arena_array(arena, (size_t)n_out, sizeof(int64_t));
    float *want = arena_array(arena, (size_t)n_out, sizeof(float));
    float in_scale = 0.125f;
    random_weights(w, (int64_t)G * K * N, m->weight_bits);
    random_inputs(x, n_in, in_scale, m->in_bits, m->in_signed);
    for (int64_t i = 0; i < n_in; i++)
        codes[i] = code_of(x[i], in_scale, m->in_bits, m->in_signed);
    naive_conv(cc, codes, w, acc);

    Program *pg = program_new(arena);
    int64_t in_dims[5] = {cc->batch, cc->channels}, out_dims[5] = {cc->batch, cc->cout};
    for (int i = 0; i < cc->spatial; i++) {
        in_dims[2 + i] = cc->in[i];
        out_dims[2 + i] = conv_out(cc, i);
    }
    int xb = add_buffer(pg, BUF_INPUT, false, 2 + cc->spatial, in_dims);
    int cb = add_buffer(pg, BUF_TEMP, false, 2 + cc->spatial, in_dims);
    int rows = add_buffer2(pg, BUF_TEMP, false, P, (int64_t)G * K);
    int accb = add_buffer2(pg, BUF_TEMP, true, P, cc->cout);
    int bias = add_buffer(pg, BUF_CONST, false, 1, (int64_t[]){cc->cout});
    int yb = add_buffer(pg, BUF_OUTPUT, false, 2 + cc->spatial, out_dims);
    float *out_scale = arena_array(arena, (size_t)cc->cout, sizeof(float));
    for (int n = 0; n < cc->cout; n++) {
        out_scale[n] = test_uniform_float(1e-3f, 1e-1f);
        pg->buffers[bias].data[n] = test_uniform_float(-2, 2);
    }
    for (int b = 0; b < cc->batch; b++)
        for (int n = 0; n < cc->cout; n++)
            for (int64_t q = 0; q < pixels; q++) {
                int64_t i = ((int64_t)b * cc->cout + n) * pixels + q;
                want[i] = dequant(acc[i], out_scale[n], pg->buffers[bias].data[n]);
            }

    Instr *q = add_instr(pg, INSTR_QUANT, cb, xb, -1);
    q->quant = (QuantParams){.scale = in_scale, .bits = m->in_bits, .is_signed = m->in_signed};
    Instr *ic = add_instr(pg, INSTR_IM2COL, rows, cb, -1);
    Im2colParams *ip = &ic->im2col;
    *ip = (Im2colParams){.spatial = cc->spatial, .batch = cc->batch, .channels = cc->channels,
                         .group = G};
    for (int i = 0; i < cc->spatial; i++) {
        ip->in[i] = cc->in[i];
        ip->kernel[i] = cc->kernel[i];
        ip->out[i] = conv_out(cc, i);
        ip->strides[i] = cc->strides[i];
        ip->dilations[i] = cc->dilations[i];
        ip->pads[i] = cc->pads[i];
        ip->pads[cc->spatial + i] = cc->pads[cc->spatial + i];
    }
    Expected expect = {0};
    append_blocks(pg, m, G, K, N, w, rows, P, accb, &expect);
    Instr *d = add_instr(pg, INSTR_DEQUANT, yb, accb, bias);
    d->dequant = (DequantParams){.conv = true, .batch = cc->batch, .channels = cc->cout,
                                 .pixels = pixels, .out_scale = out_scale};

    for (int fast = 0; fast <= 1; fast++) {
        Sim *sim = sim_new(pg);
        sim_set_fast_path(sim, fast);
        memcpy(sim_input(sim, 0), x, (size_t)n_in * sizeof(float));
        sim_run(sim);
        expect_bits_equal(sim_output(sim, 0), want, n_out, sign_mapping_name(m->sign));
        SimCounters c = sim_counters(sim);
        cr_expect_eq(c.reads, expect.reads);
        cr_expect_eq(c.conversions, expect.conversions);
        cr_expect_leq(sim_arena_bytes(sim), sim_memory_bound(pg));
        sim_free(sim);
    }
    arena_free(arena);
}

Test(sim, conv_bit_exact)
{
    static const SignMapping signs[] = {SIGN_PAIR_ANALOG, SIGN_PAIR_DIGITAL, SIGN_OFFSET};
    ConvCase cases[] = {
        /* 2-D, groups, strides, asymmetric pads, dilation */
        {.spatial = 2, .batch = 2, .channels = 4, .group = 2, .cout = 6, .in = {7, 6},
         .kernel = {3, 2}, .strides = {2, 1}, .dilations = {1, 2}, .pads = {1, 0, 1, 1}},
        /* depthwise */
        {.spatial = 2, .batch = 1, .channels = 5, .group = 5, .cout = 10, .in = {6, 6},
         .kernel = {3, 3}, .strides = {1, 1}, .dilations = {1, 1}, .pads = {1, 1, 1, 1}},
        /* LeNet-like: K = 150 over several row blocks */
        {.spatial = 2, .batch = 1, .channels = 6, .group = 1, .cout = 16, .in = {9, 9},
         .kernel = {5, 5}, .strides = {1, 1}, .dilations = {1, 1}, .pads = {2, 2, 0, 0}},
        /* 1-D */
        {.spatial = 1, .batch = 3, .channels = 3, .group = 1, .cout = 4, .in = {11},
         .kernel = {3}, .strides = {2}, .dilations = {2}, .pads = {2, 1}},
        /* 3-D */
        {.spatial = 3, .batch = 1, .channels = 2, .group = 2, .cout = 4, .in = {4, 5, 3},
         .kernel = {2, 3, 2}, .strides = {1, 2, 1}, .dilations = {1, 1, 1}, .pads = {1, 0, 1, 0, 1, 0}},
    };
    int n = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int si = 0; si < 3; si++) {
            Mapping m = {
                .sign = signs[si], .cell_bits = (int)test_uniform(1, 4), .dac_bits = (int)test_uniform(1, 8),
                .weight_bits = 8, .in_bits = 8, .in_signed = (i + si) % 2 == 1,
                .xbar_rows = 32, .xbar_cols = 64, .row_block = (int)test_uniform(16, 32),
            };
            check_conv(&m, &cases[i]);
            n++;
        }
    cr_expect_eq(n, 15);
}

/* ---- float mode against kernel_gemm ---- */

Test(sim, float_mode_matches_gemm)
{
    static const SignMapping signs[] = {SIGN_PAIR_ANALOG, SIGN_PAIR_DIGITAL, SIGN_OFFSET};
    enum { M = 5, K = 37, N = 11 };
    for (int si = 0; si < 3; si++) {
        Arena *arena = arena_new();
        float *w = arena_array(arena, K * N, sizeof(float));
        float *x = arena_array(arena, M * K, sizeof(float));
        float *bias = arena_array(arena, N, sizeof(float));
        float *ones = arena_array(arena, N, sizeof(float));
        float want[M * N];
        for (int i = 0; i < K * N; i++)
            w[i] = test_uniform_float(-1, 1);
        for (int i = 0; i < M * K; i++)
            x[i] = test_uniform_float(-2, 2);
        for (int n = 0; n < N; n++) {
            bias[n] = test_uniform_float(-1, 1);
            ones[n] = 1;
        }
        GemmParams gp = {.m = M, .n = N, .k = K, .alpha = 1, .beta = 1, .c_rows = 1, .c_cols = N};
        kernel_gemm(&gp, x, w, bias, want);

        Mapping m = {.sign = signs[si], .float_mode = true, .xbar_rows = 16, .xbar_cols = 8,
                     .row_block = 16, .weight_bits = 8, .in_bits = 8, .dac_bits = 1, .cell_bits = 1};
        Layer L = build_matmul(arena, &m, M, K, N, w, 1.0f, ones, bias);
        Sim *sim = sim_new(L.pg);
        memcpy(sim_input(sim, 0), x, sizeof(float) * M * K);
        sim_run(sim);
        const float *y = sim_output(sim, 0);
        for (int i = 0; i < M * N; i++)
            cr_expect(fabsf(y[i] - want[i]) <= 1e-5f * (1 + fabsf(want[i])) * (si == 2 ? 4 : 1),
                      "%s element %d: got %.9g, want %.9g", sign_mapping_name(m.sign), i, y[i], want[i]);
        SimCounters c = sim_counters(sim);
        cr_expect_eq(c.reads, L.expect.reads);
        cr_expect_eq(c.conversions, 0);
        sim_free(sim);
        arena_free(arena);
    }
}

/* ---- digital ops after a layer ---- */

/* y = relu(layer(x)); out = concat(y, z) on axis 1.  The graph's value ids are
 * the program's buffer ids 0..3, as program.h requires of digital ops. */
Test(sim, digital_relu_concat)
{
    enum { M = 3, K = 20, N = 4, Z = 2 };
    Arena *arena = arena_new();
    Graph *g = ir_graph_new(arena, "t");
    Value *lin = ir_add_input(g, "lin", type_make(2, (int64_t[]){M, N}));
    Value *relu = ir_add_op(g, OP_RELU, &lin, 1, "relu", lin->type, (Loc){0})->result;
    Value *z = ir_add_input(g, "z", type_make(2, (int64_t[]){M, Z}));
    Value *parts[2] = {relu, z};
    Op *cat = ir_add_op(g, OP_CONCAT, parts, 2, "cat", type_make(2, (int64_t[]){M, N + Z}), (Loc){0});
    ir_set_int(g, cat, "axis", 1);
    cr_assert(lin->id == 0 && relu->id == 1 && z->id == 2 && cat->result->id == 3);

    Program *pg = program_new(arena);
    int lin_b = add_buffer2(pg, BUF_TEMP, false, M, N);
    int relu_b = add_buffer2(pg, BUF_TEMP, false, M, N);
    int z_b = add_buffer2(pg, BUF_INPUT, false, M, Z);
    int cat_b = add_buffer2(pg, BUF_OUTPUT, false, M, N + Z);
    cr_assert(lin_b == 0 && relu_b == 1 && z_b == 2 && cat_b == 3);

    /* the layer: unsigned 4-bit inputs, 2-bit cells, offset mapping */
    Mapping m = {.sign = SIGN_OFFSET, .cell_bits = 2, .dac_bits = 2, .weight_bits = 6, .in_bits = 4,
                 .xbar_rows = 8, .xbar_cols = 32, .row_block = 8};
    float w[K * N], xin[M * K], ones[N], zeros[N], want[M * (N + Z)], zin[M * Z];
    random_weights(w, K * N, m.weight_bits);
    random_inputs(xin, M * K, 1.0f, m.in_bits, false);
    for (int n = 0; n < N; n++) {
        ones[n] = 0.5f;
        zeros[n] = -3.0f;
    }
    for (int i = 0; i < M * Z; i++)
        zin[i] = test_uniform_float(-5, 5);
    int x_b = add_buffer2(pg, BUF_INPUT, false, M, K);
    int codes = add_buffer2(pg, BUF_TEMP, false, M, K);
    int acc = add_buffer2(pg, BUF_TEMP, true, M, N);
    int bias = add_buffer(pg, BUF_CONST, false, 1, (int64_t[]){N});
    memcpy(pg->buffers[bias].data, zeros, sizeof zeros);
    Instr *q = add_instr(pg, INSTR_QUANT, codes, x_b, -1);
    q->quant = (QuantParams){.scale = 1.0f, .bits = m.in_bits};
    Expected expect = {0};
    append_blocks(pg, &m, 1, K, N, w, codes, M, acc, &expect);
    Instr *d = add_instr(pg, INSTR_DEQUANT, lin_b, acc, bias);
    d->dequant = (DequantParams){.batch = M, .channels = N, .pixels = 1, .out_scale = ones};
    add_instr(pg, INSTR_DIGITAL, relu_b, lin_b, -1)->op = relu->def;
    add_instr(pg, INSTR_DIGITAL, cat_b, relu_b, z_b)->op = cat;
    /* inputs in graph order: x (the layer's) first, then z */
    pg->inputs[0] = x_b;
    pg->inputs[1] = z_b;

    for (int p = 0; p < M; p++) {
        for (int n = 0; n < N; n++) {
            int64_t a = 0;
            for (int k = 0; k < K; k++)
                a += (int64_t)code_of(xin[p * K + k], 1.0f, m.in_bits, false) * (int64_t)w[k * N + n];
            float v = dequant(a, 0.5f, -3.0f);
            want[p * (N + Z) + n] = v > 0 ? v : 0;
        }
        for (int j = 0; j < Z; j++)
            want[p * (N + Z) + N + j] = zin[p * Z + j];
    }
    Sim *sim = sim_new(pg);
    memcpy(sim_input(sim, 0), xin, sizeof xin);
    memcpy(sim_input(sim, 1), zin, sizeof zin);
    sim_run(sim);
    expect_bits_equal(sim_output(sim, 0), want, M * (N + Z), "relu + concat");
    cr_expect_eq(sim_counters(sim).reads, expect.reads);
    cr_expect_eq(sim_counters(sim).reads, (uint64_t)M * 3 * 2);  /* 3 row blocks, 2 cycles */
    sim_free(sim);
    arena_free(arena);
}
