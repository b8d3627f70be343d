/* ir.h: the graph IR, the core types of xbarc.
 *
 * A Graph is a list of ops in topological order over SSA values.  A value is a
 * graph input, a constant (weights: data owned by the arena), or the one result
 * of an op.  Every shape is static.  Everything a compilation allocates comes
 * from one Arena and is released at once with arena_free(); nothing in here is
 * freed piecemeal.
 *
 * Textual form (.xir), which the printer writes and the parser reads back so
 * that print -> parse -> print is the identity:
 *
 *   # comment to end of line
 *   xir 1
 *   graph @lenet5 {
 *     input %input : f32[1,1,28,28]
 *     const %w : f32[2,2] = [0.5, -1.0, 2.0, 3.25]
 *     const %big : f32[6,1,5,5] = hex"0000803f..."
 *     %y : f32[1,6,28,28] = conv(%input, %w, %b) {group = 1, pads = [2, 2, 2, 2]} loc("Conv_0" #0)
 *     output %y
 *   }
 *
 *  - names: %[A-Za-z0-9_.$-]+ or %"any string" (C escapes \" \\ \n \xHH);
 *  - types: DTYPE[d0,d1,...], DTYPE[] a scalar; DTYPE is f32, f64, f16, i8, i16,
 *    i32, i64, u8, u16, u32, u64 or bool (DType below);
 *  - constant data: a flat row-major list of decimals when it has at most
 *    IR_DECIMAL_LIMIT elements, else hex"..." of its little-endian float32 bytes
 *    (the storage of every dtype);
 *    the printer writes each float in the shortest of %.6g / %.9g that reads
 *    back to the same bits, with inf, -inf and nan spelled so;
 *  - attributes in { } sorted by name: 3 (int), 3.0 / 1e-05 / inf (float: the
 *    printer always writes a '.', an 'e', inf or nan), [1, 2] (ints),
 *    [1.0, 2.5] (floats; [] is an empty int list), "text" (string);
 *  - loc("NODE" #INDEX) names the ONNX node an op came from; an op parsed
 *    without loc() gets the .xir file, line and column as its location.
 *  - lines appear in the order: inputs, constants, ops, outputs; a lowered graph
 *    (g->arch set) starts with `arch {adc_bits = 8, ...}`, every field of its
 *    Arch sorted by name (docs/arch.md).
 */
#ifndef XBARC_IR_H
#define XBARC_IR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct Arena Arena;
typedef struct Loc Loc;
typedef struct Diags Diags;
typedef struct DiagMsg DiagMsg;
typedef struct Type Type;
typedef struct Attr Attr;
typedef struct Value Value;
typedef struct Op Op;
typedef struct Graph Graph;
typedef struct Tensor Tensor;
typedef struct Arch Arch;

/* ---- arena (ir/arena.c) ---------------------------------------------------- */

Arena *arena_new(void);
void arena_free(Arena *arena);                      /* NULL is fine */
void *arena_alloc(Arena *arena, size_t size);       /* zeroed, 16-byte aligned; aborts when out of memory */
void *arena_array(Arena *arena, size_t count, size_t elem_size); /* checks count * elem_size for overflow */
char *arena_strdup(Arena *arena, const char *text);
char *arena_printf(Arena *arena, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
size_t arena_bytes(const Arena *arena);             /* bytes handed out so far */
/* release(context) when the arena is freed, before its memory goes; the last
 * registered first (what the arena's objects point into: a mapped file). */
void arena_on_free(Arena *arena, void (*release)(void *context), void *context);
/* The one growable array: makes room for element `count` of an arena array
 * of `cap` elements (lvalues of any integer type) by doubling it (to at least
 * 16) when it is full; the old copy stays in the arena until it is freed. */
#define ARENA_GROW(arena, array, count, cap)                                                  \
    do {                                                                                      \
        if ((size_t)(count) >= (size_t)(cap)) {                                               \
            size_t grown_ = (cap) ? 2 * (size_t)(cap) : 16;                                   \
            (array) = arena_grow_to((arena), (array), (size_t)(count), grown_, sizeof *(array)); \
            (cap) = grown_;                                                                   \
        }                                                                                     \
    } while (0)
/* A copy of the first `count` elements of `array` in a new array of new_cap. */
void *arena_grow_to(Arena *arena, const void *array, size_t count, size_t new_cap, size_t elem_size);
/* The most memory xbarc takes for one tensor, buffer or data set: the
 * environment's XBARC_MEMORY_LIMIT (bytes, or with a K, M or G suffix), else
 * 3/4 of the machine's physical memory.  Sizes read from files and options
 * are checked against it (and against the bytes actually present) before
 * memory is taken, so that a hostile size is an error, not an abort. */
uint64_t memory_limit(void);
/* Whether count elements of elem_size bytes fit memory_limit() (overflow
 * safe); if not, reports "WHAT needs N MiB, more than the memory limit ..." */
bool memory_check(uint64_t count, uint64_t elem_size, const char *what, const Loc *loc, Diags *diags);

/* ---- locations and diagnostics (ir/diag.c) ---------------------------------- */

/* Where an op or a message comes from: a file, and a line:col inside it (a .xir
 * file) and/or the ONNX node (name, index in the graph's node list, op_type). */
struct Loc {
    const char *file;       /* model or .xir path; NULL if unknown */
    int line, col;          /* 1-based; 0 when not a text position */
    const char *node;       /* ONNX node name ("" for an unnamed node); NULL if none */
    int node_index;         /* position of the node in the ONNX graph */
    const char *node_op;    /* ONNX op_type, for messages; may be NULL */
};

struct DiagMsg {
    char *text;             /* the complete line, without newline */
    DiagMsg *next;
};

/* Diagnostics are collected, never fatal: a phase reports every problem it can
 * find, and the caller decides to stop when n_errors > 0.  Notes are listed
 * among them but do not count. */
struct Diags {
    Arena *arena;
    DiagMsg *first, *last;
    int n_errors;
};

void diags_init(Diags *diags, Arena *arena);
/* Formats "FILE:LINE:COL: node 'NAME' (#I, OPTYPE): error: MESSAGE", leaving out
 * the parts the location does not have. */
void diag_error(Diags *diags, const Loc *loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void diag_verror(Diags *diags, const Loc *loc, const char *fmt, va_list ap);
/* "WHERE: note: MESSAGE": printed with the errors, but not one (a default the
 * user may want to know was taken). */
void diag_note(Diags *diags, const Loc *loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "WHERE: warning: MESSAGE": a default taken that makes the results suspect. */
void diag_warning(Diags *diags, const Loc *loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "OPNAME: message" at the op's location, as shape inference and the crossbar
 * op's checks report; returns false, for `return ir_op_error(...)`. */
bool ir_op_error(const Op *op, Diags *diags, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void diags_print(const Diags *diags, FILE *out);
char *loc_format(Arena *arena, const Loc *loc);   /* the location prefix alone, without ": " */

/* ---- input files (ir/file.c) ----------------------------------------------------- */

/* A whole input file's bytes: a regular file mapped read-only (no copy), a
 * pipe, FIFO or device read to its end into memory of its own.  At most
 * max_bytes (0: the memory limit); a directory, or anything that cannot be
 * opened or read, is reported at `loc` (its file: the path).  Every reader
 * of files (models, tensors, .xir, programs, architectures) takes its bytes
 * here, so every one is bounded alike. */
typedef struct {
    const uint8_t *data;
    size_t size;
    bool mapped;        /* else malloc'ed */
} FileBytes;
bool file_read(const char *path, uint64_t max_bytes, const Loc *loc, Diags *diags, FileBytes *out);
void file_release(FileBytes *bytes);
/* file_read for a small text file (a JSON chip or device file): its bytes,
 * NUL-terminated, copied into the arena.  NULL, or why not, without the path
 * ("cannot open: No such file or directory", "the file is larger than ..."). */
const char *file_read_text(const char *path, uint64_t max_bytes, Arena *arena, char **text, size_t *length);
/* A mapped file's pages leave the process's resident memory; the kernel maps
 * them again from the file (its page cache) when they are next read: the
 * mapping is read-only, so no page holds anything of ours.  A reader that
 * keeps a big file mapped and reads it once calls this as it goes, so that
 * the file does not count twice with what it was turned into.  Nothing for
 * bytes read into memory. */
void file_evict(const FileBytes *bytes);

/* ---- output files (ir/file.c) ---------------------------------------------------- */

/* A command's output files, written together or not at all:
 *
 *   Outputs *outs = outputs_new(arena, diags);
 *   outputs_add(outs, path) ...   every output, before the work: reports what
 *                                 cannot be written (missing directory, ...)
 *   FILE *f = outputs_open(outs, path);   when its content is ready
 *   outputs_commit(outs, ok);     every output in place, or (ok false, or any
 *                                 failure) none: temporaries removed
 *
 * A regular file (or a symbolic link's target) is replaced through a
 * temporary beside it and a rename; "-" (standard output), a device or a FIFO
 * is written as it is, never replaced.  Two outputs naming one file are an
 * error.  Every failure is reported with the path; file.c tells the details. */
typedef struct Outputs Outputs;

Outputs *outputs_new(Arena *arena, Diags *diags);
bool outputs_add(Outputs *outs, const char *path);
/* A directory for outputs (-o DIR): made when absent, removed again when
 * nothing is committed. */
bool outputs_add_dir(Outputs *outs, const char *dir);
/* The stream to write path's content to; a path not added yet is added now.
 * NULL when it cannot be opened (reported). */
FILE *outputs_open(Outputs *outs, const char *path);
bool outputs_write(Outputs *outs, const char *path, const void *data, size_t size);
/* True when ok and every output is in place; false (and nothing in place
 * that was not written directly: see file.c) otherwise. */
bool outputs_commit(Outputs *outs, bool ok);
/* Whether an output is standard output: the command's own text then goes to stderr. */
bool outputs_to_stdout(const Outputs *outs);

/* ---- types and tensors --------------------------------------------------- */

enum { IR_MAX_RANK = 8 };
enum { IR_DECIMAL_LIMIT = 64 };
enum { IR_DET_MAX = 64 };          /* the largest matrix of a det op (the kernel's stack buffer) */
/* Upper bound on elements of any one tensor: keeps sizes in int64 and
 * allocations sane when a model declares absurd dimensions. */
#define IR_MAX_NUMEL ((int64_t)1 << 32)

/* Element types.  Storage is float32 at run time whatever the dtype: the
 * kernels, the interpreter and the simulator compute on floats, exact for
 * integers within +-2^24 (a tensor file holding an integer beyond that is
 * refused when read).  The dtype governs the textual IR (`i64[1,8]`,
 * `bool[1,8]`), type inference (comparisons give bool, argmax i64, integer
 * div truncates toward zero), the verifier (crossbar ops take float only) and
 * tensor I/O (inputs read and outputs written in their declared type).  A bool
 * is 0.0 or 1.0.  f64 and f16 are I/O types: computed as float32.  The
 * numbering is part of the program format (runtime/program_format.h). */
typedef enum {
    DT_F32, DT_F64, DT_F16, DT_I8, DT_I16, DT_I32, DT_I64, DT_U8, DT_U16, DT_U32, DT_U64, DT_BOOL, DT_COUNT
} DType;
/* Integers up to this magnitude are exact in float32 storage. */
#define DTYPE_EXACT_INT ((int64_t)1 << 24)

const char *dtype_name(DType dtype);                    /* "f32", "i64", "bool", ... */
bool dtype_from_name(const char *name, DType *dtype);
static inline bool dtype_is_float(DType d) { return d == DT_F32 || d == DT_F64 || d == DT_F16; }
static inline bool dtype_is_int(DType d) { return d >= DT_I8 && d <= DT_U64; }   /* bool excluded */
/* The range of an integer dtype (bool: 0..1), clamped to the exact range. */
void dtype_int_range(DType dtype, double *lo, double *hi);

struct Type {
    DType dtype;
    int rank;
    int64_t dims[IR_MAX_RANK];
};

/* A tensor with its data, as read from or written to a .pb / .npy file. */
struct Tensor {
    const char *name;
    Type type;
    float *data;
};

/* Overflow-checked int64 arithmetic, for every size combined from a file or
 * an option (dims, pads, strides, counts): false when the exact result does
 * not fit, and *out is then not to be used. */
static inline bool i64_add(int64_t a, int64_t b, int64_t *out) { return !__builtin_add_overflow(a, b, out); }
static inline bool i64_mul(int64_t a, int64_t b, int64_t *out) { return !__builtin_mul_overflow(a, b, out); }

/* The output length of a sliding window (ONNX's formula for Conv and the
 * pools), overflow safe: 0 when the window does not fit the padded input,
 * -1 when a parameter is out of range (kernel, stride, dilation below 1,
 * a pad below 0, any of them above IR_MAX_NUMEL) or the result is too long.
 * infer.c (Conv and the pools) and xbar.c (the crossbar op) both use it. */
int64_t ir_window_out(int64_t in, int64_t pad_begin, int64_t pad_end, int64_t kernel, int64_t stride,
                      int64_t dilation, bool ceil_mode);

int64_t type_numel(const Type *type);
bool type_equal(const Type *a, const Type *b);
char *type_format(Arena *arena, const Type *type);   /* "f32[1,3,224,224]", "i64[1,8]" */
Type type_make(int rank, const int64_t *dims);       /* f32 with these dims */
Type type_make_dtype(DType dtype, int rank, const int64_t *dims);

/* ---- architecture (ir/arch.c; docs/crossbar.md section 1) ---------------------- */

typedef enum { SIGN_PAIR_ANALOG, SIGN_PAIR_DIGITAL, SIGN_OFFSET } SignMapping;
/* How programming variation scales with the target conductance (docs/noise.md). */
typedef enum { PROG_NONE, PROG_STATE_INDEPENDENT, PROG_PROPORTIONAL, PROG_PCM, PROG_RRAM_WAN } ProgModel;

/* The crossbar tiles a graph is mapped onto.  Data, not code: a built-in default
 * (arch_default), or a JSON file validated field by field. */
struct Arch {
    int rows, cols;             /* cells of one crossbar */
    int cell_bits;              /* 2^cell_bits conductance levels per cell */
    double g_min_us, g_max_us;  /* conductance range, microsiemens */
    int weight_bits;            /* signed weights */
    bool weight_per_layer;      /* one weight scale per layer instead of per output channel */
    int input_bits;             /* activation bits */
    int dac_bits;               /* input bits driven per cycle */
    int adc_bits;               /* ADC resolution (the allocation's upper bound) */
    int cols_per_adc;           /* columns sharing one ADC */
    SignMapping sign;
    int tiles;                  /* tile budget, 0 = unbounded */
    /* Chip non-idealities (docs/noise.md): applied by the simulator, set at run
     * time (`xbarc run --noise/--set/--time`), not part of a compiled program
     * nor of the .xir arch line.  All zero (and arch_default) is the ideal chip. */
    ProgModel prog_model;       /* programming variation, drawn once per chip */
    double prog_sigma;          /* its sigma: of G_max, of G_target, or the PCM polynomial's scale */
    double sa0_fraction;        /* cells stuck at G_min */
    double sa1_fraction;        /* cells stuck at G_max */
    double read_sigma;          /* per-read noise, relative to each cell's conductance */
    double drift_nu_mean, drift_nu_sigma;   /* per-device drift exponent ~ N(mean, sigma) */
    double drift_t0_s;          /* drift reference time t0, seconds */
    double drift_time_s;        /* inference time after programming, seconds */
    int drift_compensation;     /* 1: global drift compensation, one gain per block */
    double ir_drop;             /* first-order IR drop strength, 0 = none */
    double wire_r_ohm;          /* one wire segment between adjacent cells, ohms (nodal IR drop), 0 = none */
    double wire_r_row_ohm, wire_r_col_ohm;  /* per direction, overriding wire_r_ohm when positive */
    int wire_sense_far;         /* 1: sense amplifiers next to a block's last row, not its row 0 */
    int wire_split_pairs;       /* 1: pair-analog G+ and G- cells in two arrays of their own, not interleaved */
    double adc_offset_sigma;    /* per-ADC offset, LSB */
    double adc_gain_sigma;      /* per-ADC relative gain error */
    /* aihwkit's PCM and forward-pass effects (docs/noise.md 4, 11, 12) */
    int drift_nu_pcm;           /* 1: nu from aihwkit's PCM fit of G_target / G_max, not drift_nu_mean/sigma */
    double read_1f_scale;       /* PCM 1/f noise accumulated up to the inference time, aihwkit's read_noise_scale */
    double out_noise;           /* per conversion, Gaussian, relative to the ADC's full scale */
    double inp_noise;           /* per read and row, Gaussian, relative to the DAC's full-scale drive */
    double adc_inl_lsb;         /* ADC integral nonlinearity: peak of an S-shaped transfer error, LSB */
};

Arch arch_default(void);
const char *sign_mapping_name(SignMapping sign);
bool sign_mapping_from_name(const char *name, SignMapping *sign);
/* Reads a JSON architecture: fields absent keep their default; an unknown field,
 * a wrong type or a value out of range is an error naming the field. */
bool arch_read_json(const char *path, Arch *arch, Diags *diags);
/* The same from the file's text (length bytes, NULs and all; `path` names
 * it in messages). */
bool arch_parse_json(const char *path, const char *text, size_t length, Arch *arch, Diags *diags);
/* The architecture as JSON text (arena string), every field present. */
char *arch_to_json(Arena *arena, const Arch *arch);
/* Checks ranges and consistency (rows 1..4096, cell_bits 1..8, ...). */
bool arch_validate(const Arch *arch, const char *file, Diags *diags);
/* The same, reporting at `loc` (the .xir parser gives the `arch` line's place). */
bool arch_validate_at(const Arch *arch, const Loc *loc, Diags *diags);
/* The fields by name, in name order: the .xir `arch {...}` line is printed and
 * parsed through these, the JSON reader and writer use the same table.
 * arch_field_count() counts the compiled architecture's fields; the chip
 * non-idealities follow them, up to arch_field_count_all() (also in name
 * order among themselves): every arch_field_* function takes those indices. */
int arch_field_count(void);
int arch_field_count_all(void);
const char *prog_model_name(ProgModel model);
const char *arch_field_name(int field);
int arch_field_find(const char *name);      /* -1 when there is no such field */
bool arch_field_is_name(int field);         /* its value is a name (sign, prog_model), not a number */
/* A field's value as the .xir line writes it: 8, 100.0 or "pair-analog". */
char *arch_field_format(Arena *arena, const Arch *arch, int field);
/* Sets a field from the text of a number, or from a string when is_string;
 * returns NULL, or what is wrong ("must be an integer"). */
const char *arch_field_parse(Arch *arch, int field, const char *text, bool is_string);

/* ---- ops, values, graphs (ir/ir.c) ------------------------------------------ */

typedef enum {
#define OP(id, name, min_in, max_in) OP_##id,
#include "ops.def"
#undef OP
    OP_COUNT
} OpKind;

typedef struct {
    const char *name;
    int min_inputs, max_inputs;
} OpInfo;

extern const OpInfo op_info[OP_COUNT];
bool op_kind_from_name(const char *name, OpKind *kind);

typedef enum { ATTR_INT, ATTR_FLOAT, ATTR_INTS, ATTR_FLOATS, ATTR_STRING } AttrKind;

struct Attr {
    const char *name;
    AttrKind kind;
    int64_t i;              /* ATTR_INT */
    float f;                /* ATTR_FLOAT */
    int count;              /* ATTR_INTS, ATTR_FLOATS */
    int64_t *ints;
    float *floats;
    const char *s;          /* ATTR_STRING */
};

struct Value {
    int id;                 /* index in graph->values; stable until ir_compact() */
    const char *name;       /* unique in the graph */
    Type type;
    Op *def;                /* producing op, NULL for inputs and constants */
    float *data;            /* constant data (type_numel elements), NULL otherwise */
    bool is_input;
    /* An xbar op's quantized weights: the w_bits the verifier last found every
     * element of data to fit (an integer within +-qmax), 0 when not checked.
     * A new constant starts at 0, so the verifier scans weights once, where a
     * pass creates them; code that rewrites data in place must reset it. */
    int checked_w_bits;
};

struct Op {
    OpKind kind;
    int n_inputs;
    Value **inputs;
    Value *result;
    int n_attrs;
    Attr *attrs;            /* kept sorted by name */
    Loc loc;
    bool dead;              /* marked by passes; ir_compact() drops it */
};

struct Graph {
    Arena *arena;
    const char *name;
    Value **values; int n_values, cap_values;   /* inputs, constants and results */
    Op **ops; int n_ops, cap_ops;               /* topological order */
    Value **inputs; int n_inputs, cap_inputs;
    Value **outputs; int n_outputs, cap_outputs;
    Arch *arch;             /* set once lowered to crossbars; printed as `arch {...}` */
};

Graph *ir_graph_new(Arena *arena, const char *name);
Value *ir_add_input(Graph *g, const char *name, Type type);
/* Copies numel(type) floats from data (or zero-fills when data is NULL). */
Value *ir_add_const(Graph *g, const char *name, Type type, const float *data);
/* The same without a copy: the constant takes `data` (numel(type) floats of
 * the graph's arena) as it is.  For a pass that rewrites weights in place into
 * a new constant, once nothing else reads the old one. */
Value *ir_add_const_taking(Graph *g, const char *name, Type type, float *data);
/* Appends an op computing a new value `result_name` of `result_type`.  A NULL
 * result_name gets a fresh unique one. */
Op *ir_add_op(Graph *g, OpKind kind, Value *const *inputs, int n_inputs,
              const char *result_name, Type result_type, Loc loc);
void ir_add_output(Graph *g, Value *value);
Value *ir_find_value(const Graph *g, const char *name);
const char *ir_fresh_name(Graph *g, const char *stem);  /* "stem", "stem.1", ... unused so far */

void ir_set_int(Graph *g, Op *op, const char *name, int64_t v);
void ir_set_float(Graph *g, Op *op, const char *name, float v);
void ir_set_ints(Graph *g, Op *op, const char *name, const int64_t *v, int count);
void ir_set_floats(Graph *g, Op *op, const char *name, const float *v, int count);
void ir_set_string(Graph *g, Op *op, const char *name, const char *v);
const Attr *ir_attr(const Op *op, const char *name);          /* NULL if absent */
int64_t ir_attr_int(const Op *op, const char *name, int64_t dflt);
float ir_attr_float(const Op *op, const char *name, float dflt);
/* Number of ints and a pointer to them, or -1 when the attribute is absent. */
int ir_attr_ints(const Op *op, const char *name, const int64_t **v);

/* Rewrites every use of `from` (op inputs and graph outputs) to `to`. */
void ir_replace_uses(Graph *g, Value *from, Value *to);
int ir_count_uses(const Graph *g, const Value *value);   /* op inputs + graph outputs */
/* Drops dead ops and values nothing defines or uses (dead results, unused
 * constants; never graph inputs), and renumbers value ids. */
void ir_compact(Graph *g);

/* The multiply-accumulates of an op, per run: an xbar op's K x N x input
 * vectors x groups (on crossbars), a conv, conv-transpose, gemm or matmul
 * left digital its products (on the digital units: attention's q k^T and
 * attention x V, a batched right operand), 0 for any other op.  The one
 * count of MACs the summary, the reports and the performance model share
 * (docs/perf.md 3). */
double ir_op_macs(const Op *op);

/* ---- shape inference (ir/infer.c) --------------------------------------------- */

/* Computes the result type of `op` from its input types and attributes, reporting
 * any inconsistency (rank, broadcast, channel mismatch...) at op->loc. */
bool ir_infer_type(const Op *op, Type *result, Diags *diags);
/* The op's required int attribute 'axis', in [0, rank) (reported at op->loc if not). */
bool ir_axis_attr(const Op *op, int rank, Diags *diags, int64_t *axis);
/* Multidirectional (numpy) broadcasting of a and b, a mismatch reported at op->loc. */
bool ir_broadcast_types(const Op *op, const Type *a, const Type *b, Type *out, Diags *diags);
/* The element-wise math ops, reductions and normalizations (ir/infer_math.c;
 * ir_infer_type dispatches here). */
bool infer_math_type(const Op *op, Type *result, Diags *diags);
/* Convtranspose, dilate, resize, slice and tile (ir/infer_layout.c; ir_infer_type
 * dispatches here), and the checks of pad's reflect and edge modes. */
bool infer_layout_type(const Op *op, Type *result, Diags *diags);
bool infer_pad_mode(const Op *op, Diags *diags);
/* Cast, mod, argmax, argmin, gather, gatherelements, scatternd,
 * scatterelements, trilu, cumsum, topk (ir/infer_index.c). */
bool infer_index_type(const Op *op, Type *result, Diags *diags);
/* How scatternd and scatterelements combine an update with the element it
 * lands on (their `reduction`, ONNX's names; none: it replaces it). */
typedef enum { SCATTER_NONE, SCATTER_ADD, SCATTER_MUL, SCATTER_MAX, SCATTER_MIN, SCATTER_REDUCTIONS } ScatterReduction;
/* The reduction named `name`: false if none is. */
bool scatter_reduction_from_name(const char *name, ScatterReduction *reduction);
/* The result's dtype (ir/infer_dtype.c), once its shape is known: the
 * operands' checked against what the op takes.  ir_infer_type calls it last. */
bool infer_dtype(const Op *op, DType *dtype, Diags *diags);

/* ---- layer names (ir/ir.c) ---- */

/* The one name of a layer (an op) in every report, listing, program and
 * option: its ONNX node's name, unless that is empty or another op of g has
 * it too; else the name of its result (unique in a graph). */
const char *ir_layer_name(const Graph *g, const Op *op);
/* `name` in at most `width` characters for a table column: whole when it
 * fits, else elided in the middle with ".." (JSON keeps the full name). */
const char *ir_name_fit(Arena *arena, const char *name, int width);
enum { IR_NAME_COLUMN = 64 };      /* the widest name column of a table */
/* Printed under a table that elided a name, so no cut goes unsaid. */
#define IR_NAME_ELIDED_NOTE "(names over %d characters are elided in the middle at '..'; the JSON output has them in full)\n"

/* ---- the crossbar op (ir/xbar.c; docs/crossbar.md sections 2 and 3) ------------- */

/* The geometry of an xbar op, read from its types and attributes: the layer as
 * `rows` input vectors of G*K values times w[G, K, N]. */
typedef struct {
    bool conv;                  /* form "conv"; else "matmul" */
    int64_t groups, k, n;       /* w is [groups, k, n] */
    int64_t rows;               /* input vectors P: matmul numel(x) / k; conv batch * output pixels */
    /* conv form only: x is [batch, groups * channels, in...], the result [batch, groups * n, out...] */
    int spatial;
    int64_t batch, channels;    /* channels per group */
    int64_t pixels;             /* output pixels: prod(out) */
    int64_t in[IR_MAX_RANK], kernel[IR_MAX_RANK], out[IR_MAX_RANK];
    int64_t strides[IR_MAX_RANK], dilations[IR_MAX_RANK], pads[2 * IR_MAX_RANK];
} XbarGeom;

/* Result type of an xbar op (ir_infer_type dispatches here). */
bool xbar_infer_type(const Op *op, Type *result, Diags *diags);
/* The consistency of the crossbar attributes an op has (ir_verify calls it). */
bool xbar_verify_attrs(const Op *op, Diags *diags);
/* Fills geom from an op that verifies; false if it does not. */
bool xbar_geom(const Op *op, XbarGeom *geom);

/* The cell encoding of docs/crossbar.md 5, written once: the passes size
 * blocks with it, the emitter programs levels with it, the simulator's fast
 * path and fine-tuning read weights back with it.  A weight column takes
 * S * P physical columns, ordered (slice, polarity); P = 2 for a pair
 * (polarity 0 holds the slices of max(w, 0), 1 those of max(-w, 0)), 1 for
 * offset (the slices of w + qmax); an offset block ends with S reference
 * columns holding the slices of qmax. */
enum { CELL_MAX_SLICES = 16 };     /* the verifier's bound on `slices` */
int cell_polarities(SignMapping sign);
int cell_ref_cols(SignMapping sign, int slices);
/* Among a block's columns: weight column n, slice s, polarity p (0 for offset). */
int cell_column(SignMapping sign, int slices, int n, int s, int polarity);
/* Slice s of a non-negative magnitude u: (u >> (s * cell_bits)) & (2^cell_bits - 1). */
int cell_slice_level(int64_t u, int s, int cell_bits);
/* The S * P levels of weight w (|w| <= qmax) in column order. */
void cell_encode(SignMapping sign, int slices, int cell_bits, int64_t w, int64_t qmax, int *levels);
/* What levels[S * P] (any levels: stuck cells too) spell, given the reference
 * levels ref[S] of an offset block (NULL: the slices of qmax): sum over s of
 * 2^(s * cell_bits) (level(s, +) - level(s, -)), or (level(s) - ref(s)). */
double cell_decode(SignMapping sign, int slices, int cell_bits, const double *levels, const double *ref,
                   int64_t qmax);

/* ---- verifier, printer, parser (ir/verify.c, ir/print.c, ir/parse.c) ------------ */

/* Checks names unique, every input defined before use, arity, attribute kinds,
 * result types equal to ir_infer_type(), constant data present, outputs defined. */
bool ir_verify(const Graph *g, Diags *diags);

typedef struct {
    bool elide_constants;   /* print `= elided` for constants: not parseable, for reading */
} PrintOptions;

void ir_print(const Graph *g, FILE *out, const PrintOptions *options);
/* A value or graph name as the printer spells it after its sigil: bare when it
 * is [A-Za-z0-9_.$-]+, else quoted with escapes ("%" + this names %x in messages). */
char *ir_name_text(Arena *arena, const char *name);
/* Parses .xir text; `path` is used in locations.  Returns NULL (with errors in
 * diags) on a syntax or semantic error.  The result is verified. */
Graph *ir_parse(Arena *arena, const char *path, const char *text, size_t length, Diags *diags);
Graph *ir_parse_file(Arena *arena, const char *path, Diags *diags);

#endif
