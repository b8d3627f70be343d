/* fuzz_program.c: the program reader and checker (from memory: no file per
 * run), then, on what they accept, what `xbarc explain` and `xbarc run
 * --stats` do with it: the listing, the simulator and the performance model.
 * The simulator runs when the program is small enough to run many times a
 * second (an estimate of its work and its memory), on an ideal chip, or on a
 * noisy one for inputs whose last byte is odd; the inputs come from a fixed
 * pattern. */
#include "backend/backend.h"
#include "runtime/noise.h"
#include "runtime/program.h"
#include "runtime/runtime.h"
#include "fuzz.h"

/* Work (element operations, roughly) and memory of a simulation worth running. */
enum { RUN_LIMIT = 1 << 20, MEMORY_LIMIT = 64 << 20 };

static double numel(const Program *p, int id)
{
    return (double)type_numel(&p->buffers[id].type);
}

/* Roughly the element operations of one run: reads times their cells, the
 * rest by their outputs (times the window or inner dimension that each
 * output sums). */
static double work(const Program *p)
{
    double w = 0;
    for (int k = 0; k < p->n_instrs; k++) {
        const Instr *in = &p->instrs[k];
        switch (in->opcode) {
        case INSTR_MVM: {
            const MvmParams *m = &in->mvm;
            double reads = m->float_mode ? 1 : (m->in_signed ? 2 : 1) * (double)m->in_bits;
            w += (double)(m->row_end - m->row_begin) * reads * m->rows * m->phys_cols;
            break;
        }
        case INSTR_COMBINE:
            w += (double)(in->combine.row_end - in->combine.row_begin) * in->combine.n_cols * in->combine.slices;
            break;
        case INSTR_DIGITAL: {
            const Op *op = in->op;
            double out = numel(p, op->result->id), inner = 1;
            for (int i = 0; i < op->n_inputs; i++)
                inner = numel(p, op->inputs[i]->id) > inner ? numel(p, op->inputs[i]->id) : inner;
            w += op->kind == OP_CONV || op->kind == OP_GEMM || op->kind == OP_MATMUL || op->kind == OP_MAXPOOL ||
                         op->kind == OP_AVGPOOL
                     ? out * inner      /* at most every input element per output */
                     : out + inner;
            break;
        }
        default:
            w += numel(p, in->dst) + (in->src[0] >= 0 ? numel(p, in->src[0]) : 0);
            break;
        }
    }
    return w;
}

/* How far inputs get: printed at exit with XBARC_FUZZ_STATS set (docs/fuzzing.md). */
static long n_inputs, n_read, n_run;

static void print_stats(void)
{
    fprintf(stderr, "fuzz-program: %ld inputs, %ld read and checked (%.1f%%), %ld simulated (%.1f%%)\n", n_inputs,
            n_read, 100.0 * (double)n_read / (double)(n_inputs ? n_inputs : 1), n_run,
            100.0 * (double)n_run / (double)(n_inputs ? n_inputs : 1));
}

/* Mutations mostly keep the framing of the file (header, then tag + u64
 * length + payload per section), so that mutants get past the lengths to
 * the reader's fields, the checker and the simulator.  By seed: one in four
 * mutates the bytes as they are (libFuzzer's mutations); one in four one
 * section's payload, its length set to match; two in four overwrite one
 * field-sized run of a payload (1, 4 or 8 bytes, little-endian) with an
 * interesting value, the file's size unchanged, and half of those start
 * from a program the reader accepted lately (a corpus is mostly inputs
 * that are refused, each for a reason of its own): one field off a valid
 * program, what the checker must judge and, if it passes, the simulator run. */
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

enum { VALID_KEPT = 256, VALID_MAX_SIZE = 1 << 14 };   /* small ones: they run fast */
static uint8_t (*valid)[VALID_MAX_SIZE];    /* programs the reader accepted lately (allocated once:
                                               a malloc left over from a run sends libFuzzer hunting leaks) */
static size_t valid_size[VALID_KEPT];
static unsigned n_valid;

static void keep_valid(const uint8_t *data, size_t size)
{
    unsigned i = n_valid++ % VALID_KEPT;
    memcpy(valid[i], data, size);
    valid_size[i] = size;
}

static uint64_t get_u64(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

static void put_le(uint8_t *b, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

/* A value a field may take: small, a power of two near by, or the ends of its type. */
static uint64_t interesting(unsigned r)
{
    static const int64_t values[] = {0, 1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 64, 255, 256, 4096, 65535, 65536,
                                     -1, -2, INT32_MAX, INT32_MIN, (int64_t)1 << 32, INT64_MAX, INT64_MIN};
    unsigned n = sizeof values / sizeof values[0];
    return r % 3 == 0 ? (uint64_t)(r / 3 % 64) : (uint64_t)values[r / 3 % n];
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    enum { HEADER = 12, SECTION_HEAD = 12, SECTIONS = 8 };
    size_t at[SECTIONS], length[SECTIONS], end = HEADER;
    int n = 0;
    for (; n < SECTIONS && end <= size && size - end >= SECTION_HEAD; n++) {
        uint64_t len = get_u64(data + end + 4);
        if (len > size - end - SECTION_HEAD)
            break;
        at[n] = end + SECTION_HEAD, length[n] = (size_t)len;
        end = at[n] + length[n];
    }
    unsigned mode = seed % 8, r = seed / 8;
    if (mode >= 6 && n_valid > 0) {     /* from a valid program */
        unsigned i = r % (n_valid < VALID_KEPT ? n_valid : VALID_KEPT);
        r /= VALID_KEPT;
        if (valid_size[i] <= max_size) {
            memcpy(data, valid[i], valid_size[i]);
            return LLVMFuzzerCustomMutator(data, valid_size[i], max_size, 4 + 8 * r);
        }
    }
    mode /= 2;
    if (mode == 0 || n == 0 || (mode == 1 && max_size <= size))
        return LLVMFuzzerMutate(data, size, max_size);
    int s = (int)(r % (unsigned)n);
    r /= (unsigned)n;
    if (mode >= 2) {            /* a field, in place */
        static const int widths[] = {1, 4, 8};
        int bytes = widths[r % 3];
        r /= 3;
        if (length[s] < (size_t)bytes)
            return LLVMFuzzerMutate(data, size, max_size);
        size_t offset = r % (length[s] - (size_t)bytes + 1);
        put_le(data + at[s] + offset, interesting(r / 7 + (unsigned)offset), bytes);
        return size;
    }
    size_t tail = size - (at[s] + length[s]);
    static uint8_t *payload;
    static size_t cap;
    size_t room = max_size - size + length[s];     /* the most the payload may grow to */
    if (room > cap && !(payload = realloc(payload, cap = room)))
        abort();                /* (mutators run outside the leak-checked runs) */
    memcpy(payload, data + at[s], length[s]);
    size_t grown = LLVMFuzzerMutate(payload, length[s], room);
    memmove(data + at[s] + grown, data + at[s] + length[s], tail);
    memcpy(data + at[s], payload, grown);
    put_le(data + at[s] - 8, grown, 8);
    return at[s] + grown + tail;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_memory_limit();
    if (!(valid = malloc(VALID_KEPT * sizeof *valid)))
        abort();
    if (getenv("XBARC_FUZZ_STATS"))
        atexit(print_stats);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *null;
    if (!null && !(null = fopen("/dev/null", "w")))
        abort();                /* the harness's own failure, not a finding */
    Arena *arena = arena_new();
    Diags diags;
    diags_init(&diags, arena);
    Program *p = program_read_memory(arena, "p.xbp", data, size, &diags);
    n_inputs++;
    fuzz_refused_with_message(p, &diags, "the program reader");
    if (p) {
        n_read++;
        if (size <= VALID_MAX_SIZE)
            keep_valid(data, size);
        program_explain(p, null);
        if (size > 0 && data[size - 1] & 1 && !p->float_weights)
            noise_preset(&p->arch, "rram");
        if (work(p) <= RUN_LIMIT && sim_memory_bound(p) <= MEMORY_LIMIT) {
            n_run++;
            Sim *sim = sim_new_seeded(p, 1);
            for (int i = 0; i < p->n_inputs; i++) {
                float *x = sim_input(sim, i);
                int64_t n = type_numel(&p->buffers[p->inputs[i]].type);
                for (int64_t j = 0; j < n; j++)
                    x[j] = (float)((j * 37 + i) % 17) / 8.0f - 0.5f;
            }
            sim_run(sim);
            SimCounters *counters = arena_array(arena, (size_t)p->n_instrs + 1, sizeof *counters);
            for (int k = 0; k < p->n_instrs; k++)
                counters[k] = sim_instr_counters(sim, k);
            PerfParams params = perf_params_default();
            PerfReport report;
            perf_model(arena, p, &params, counters, 1, &report);
            perf_print(&report, null);
            sim_free(sim);
        }
    }
    arena_free(arena);
    return 0;
}
