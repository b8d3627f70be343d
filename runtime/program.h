/* program.h: the crossbar program, in memory and on disk (docs/program-format.md).
 *
 * What `xbarc compile` writes (backend/emit.c builds it from the mapped IR) and
 * `xbarc run` executes (runtime/sim.c): the architecture, the programmed level
 * of every cell of every tile, a flat array of fixed-shape instructions over
 * numbered buffers, the constants, and which buffers are inputs and outputs.
 * The semantics of each instruction are those of docs/crossbar.md. */
#ifndef XBARC_PROGRAM_H
#define XBARC_PROGRAM_H

#include "ir/ir.h"
typedef struct Program Program;

/* What running a program counts (runtime/sim.c), summed over instructions
 * (per layer in reports): the performance model's inputs. */
typedef struct {
    uint64_t reads;             /* crossbar reads: one per block, input vector and DAC cycle */
    uint64_t conversions;       /* ADC conversions */
    uint64_t saturated;         /* conversions clipped at the ADC range */
} SimCounters;

#define PROGRAM_MAGIC "XBARCPRG"
enum { PROGRAM_VERSION = 5 };

typedef enum { BUF_INPUT, BUF_OUTPUT, BUF_CONST, BUF_TEMP } BufferKind;

/* A buffer holds float32 elements, or float64 for accumulators (exact integer
 * partial sums beyond 2^24). */
typedef struct {
    const char *name;
    BufferKind kind;
    bool wide;                  /* float64 elements */
    Type type;                  /* shape and dtype (float32 storage, ir.h; wide buffers are f32) */
    float *data;                /* BUF_CONST only */
} Buffer;

/* One crossbar: what is programmed into each cell, row-major rows x cols.  A
 * quantized program holds levels 0 .. 2^cell_bits - 1: one byte a cell in
 * `levels` (the emitter fills it, a quarter of the memory of floats), or, as
 * read from a file, packed as the file packs them in `packed` (cell k at bits
 * k * packed_bits of a little-endian bit stream, docs/program-format.md: a
 * quarter of `levels` at 2-bit cells; program_read points into the file's
 * mapping, program_evict).  A float-weight program holds the float weights
 * in `cells`.  A quantized program built by hand may give its levels in
 * `cells` instead (as integer-valued floats): every reader of a tile goes
 * through tile_cell() or tile_levels(). */
typedef struct {
    int rows, cols;
    uint8_t *levels;            /* quantized, or NULL */
    const uint8_t *packed;      /* quantized, packed at packed_bits bits a cell, when levels is NULL; or NULL */
    int packed_bits;
    float *cells;               /* float weights, or NULL when levels or packed is set */
    uint32_t writes;            /* times the tile was rewritten after compiling (xbarc finetune):
                                   part of the key of its cells' programming variation */
    uint32_t *cell_writes;      /* write pulses each cell took in in-memory training (xbarc train,
                                   docs/train.md), row-major like the cells; NULL: none counted */
} Tile;

static inline float tile_cell(const Tile *t, size_t k)
{
    if (t->levels)
        return (float)t->levels[k];
    if (t->packed) {
        size_t bit = k * (size_t)t->packed_bits;
        unsigned v = t->packed[bit / 8] >> (bit % 8);
        if (bit % 8 + (size_t)t->packed_bits > 8)
            v |= (unsigned)t->packed[bit / 8 + 1] << (8 - bit % 8);
        return (float)(v & ((1u << t->packed_bits) - 1));
    }
    return t->cells[k];
}

/* Cells [first, first + count) of a quantized tile as levels, a byte each:
 * a pointer into t->levels, or `out` unpacked from t->packed (runtime/program_io.c). */
const uint8_t *tile_levels(const Tile *t, size_t first, size_t count, uint8_t *out);
/* The tile's cells as levels a byte each from now on, from packed cells or
 * integer-valued float cells: for what rewrites them (xbarc finetune). */
void tile_unpack(Arena *arena, Tile *t);

/* The instruction set: one line each, the name `explain` prints. */
#define PROGRAM_OPCODES(X)                                                             \
    X(QUANT, "quant")       /* dst = activation codes of src (docs/crossbar.md 3) */    \
    X(IM2COL, "im2col")     /* dst[P, G*K] = patches of src (NCHW), P = N * pixels */   \
    X(MVM, "mvm")           /* one block read per row in range: DACs, ADC, shift-add */  \
    X(COMBINE, "combine")   /* dst[P, G*N] (wide) rows in range = or += a block */       \
    X(DEQUANT, "dequant")   /* dst = acc * out_scale[n] + bias[n], back to NCHW */      \
    X(DIGITAL, "digital")   /* a graph op run by the digital units */

typedef enum {
#define X(id, name) INSTR_##id,
    PROGRAM_OPCODES(X)
#undef X
    INSTR_COUNT
} Opcode;

extern const char *const opcode_names[INSTR_COUNT];

typedef struct {
    float scale;                /* s_x */
    int bits;                   /* input_bits */
    bool is_signed;
    bool float_mode;            /* float-weight program: dst = src */
} QuantParams;

typedef struct {
    int spatial;                /* 1..3 */
    int64_t batch, channels, group;
    int64_t in[3], kernel[3], out[3], strides[3], dilations[3], pads[6];
} Im2colParams;

typedef struct {
    int tile, tile_row, tile_col;   /* where the block sits */
    int rows;                   /* R: rows used, fed from src columns src_col .. src_col+R-1 */
    int src_col;                /* g*K + first row of the block */
    int phys_cols;              /* physical columns of the block, reference columns included */
    int out_cols;               /* columns of dst: phys_cols / 2 for pair-analog, else phys_cols */
    int dac_bits, in_bits;
    bool in_signed;             /* two passes: positive then negative part */
    SignMapping sign;
    int adc_bits;
    float adc_max;              /* full scale, column-sum units */
    bool float_mode;            /* one cycle, no ADC: float weights and inputs */
    int64_t row_begin, row_end; /* source rows p read (and dst rows written): [row_begin, row_end);
                                   0 and P unless the layer is replicated (docs/crossbar.md 6) */
} MvmParams;

typedef struct {
    int group;                  /* g */
    int n0, n_cols;             /* weight columns n0 .. n0+n_cols-1 of the group */
    int n_per_group;            /* N */
    int slices, cell_bits;
    SignMapping sign;           /* layout of src columns (docs/crossbar.md 5) */
    bool accumulate;            /* add into dst (later row blocks) instead of writing */
    bool float_mode;
    float offset_scale;         /* float_mode offset mapping: the offset added to weights */
    int64_t row_begin, row_end; /* rows of src and dst processed: those of the block's mvm */
} CombineParams;

typedef struct {
    bool conv;                  /* result NCHW from [N*pixels, channels] */
    int64_t batch, channels, pixels;
    float *out_scale;           /* [channels] */
} DequantParams;

typedef struct {
    Opcode opcode;
    int dst;                    /* buffer ids */
    int src[3];                 /* -1 when unused */
    const char *layer;          /* the IR value this instruction helps compute (reports) */
    union {
        QuantParams quant;
        Im2colParams im2col;
        MvmParams mvm;
        CombineParams combine;
        DequantParams dequant;
    };
    Op *op;                     /* INSTR_DIGITAL: kind, attributes and typed inputs; the
                                   buffer ids are op->inputs[i]->id and op->result->id */
} Instr;

struct Program {
    Arena *arena;
    Arch arch;
    bool float_weights;
    int n_buffers;  Buffer *buffers;
    int n_tiles;    Tile *tiles;
    int n_instrs;   Instr *instrs;
    int n_inputs;   int *inputs;    /* buffer ids, in graph input order */
    int n_outputs;  int *outputs;
    /* Fine-tuned for one chip (xbarc finetune, docs/finetune.md): the seed
     * its non-idealities were drawn from, and those non-idealities as
     * "FIELD=VALUE ..." (the ones not ideal; "" for the ideal chip).  A
     * compiler's program is tuned for no chip: false, 0, NULL. */
    bool tuned;
    uint64_t tuned_seed;
    const char *tuned_chip;
    const FileBytes *file;      /* the file packed tiles point into (program_read), released with the
                                   arena; NULL when they are in it */
};
/* The longest tuned_chip the format holds. */
enum { PROGRAM_MAX_CHIP_TEXT = 4096 };

/* The writer puts the program at `path`, one of the outputs `outs` (ir/ir.h:
 * written in place at outputs_commit).  The reader checks the
 * magic, the version, every size against the file's length and every buffer id,
 * tile coordinate and shape against the rest: a truncated, foreign or
 * inconsistent file is refused with a message naming what is wrong. */
bool program_write(const Program *program, Outputs *outs, const char *path, Diags *diags);
Program *program_read(Arena *arena, const char *path, Diags *diags);
/* The pages of the program's file that its packed tiles point into leave the
 * process's resident memory (file_evict: they are read back when used
 * again): what has turned them into something else (the simulator's folded
 * weights) calls it, so that a run does not hold the file and its fruit at
 * once.  Nothing for a program whose tiles are in its arena. */
void program_evict(const Program *program);
/* Bytes of packed tiles read between two evictions: a few MB resident at most. */
enum { PROGRAM_EVICT_BYTES = 4 << 20 };
/* The same from the file's bytes in memory (copied: the program does not
 * point into them); `name` is the file in messages. */
Program *program_read_memory(Arena *arena, const char *name, const void *bytes, size_t size, Diags *diags);
/* An EXPLAIN-style listing: architecture, buffers, tiles, one row per instruction. */
void program_explain(const Program *program, FILE *out);

#endif
