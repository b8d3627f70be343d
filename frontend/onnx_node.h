/* onnx_node.h: private to frontend/, the interface between onnx.c (which reads
 * the protobuf) and onnx_ops.c (which lowers one ONNX node to IR ops, with
 * onnx_legacy.c for opsets 1 to 6).
 *
 * onnx.c decodes each node into the plain structs below, so that protobuf-c
 * types stay inside onnx.c, onnx_tensor.c and tensorio.c and the per-op code
 * reads like the ONNX operator documentation. */
#ifndef XBARC_FRONTEND_ONNX_NODE_H
#define XBARC_FRONTEND_ONNX_NODE_H

#include "ir/ir.h"

/* ONNX TensorProto.DataType values used by name in the frontend. */
enum {
    ONNX_FLOAT = 1, ONNX_UINT8 = 2, ONNX_INT8 = 3, ONNX_UINT16 = 4, ONNX_INT16 = 5,
    ONNX_INT32 = 6, ONNX_INT64 = 7, ONNX_STRING = 8, ONNX_BOOL = 9, ONNX_FLOAT16 = 10,
    ONNX_DOUBLE = 11, ONNX_UINT32 = 12, ONNX_UINT64 = 13,
};

/* A tensor whose data is known at import: an initializer, a Constant node's
 * value or a bound input.  Numeric data is decoded twice over: every element as
 * float in `f`, and for integer types the exact value in `i` too.  Types the
 * frontend cannot decode (strings, bfloat16, complex...) have both NULL;
 * float16 and double are decoded to float. */
typedef struct {
    int elem_type;              /* ONNX TensorProto.DataType */
    int rank;
    int64_t dims[IR_MAX_RANK];
    int64_t numel;              /* may be 0 (an empty shape list, say) */
    float *f;
    int64_t *i;
} OnnxConst;

typedef enum { OA_OTHER, OA_INT, OA_FLOAT, OA_INTS, OA_FLOATS, OA_STRING, OA_STRINGS, OA_TENSOR } OnnxAttrKind;

typedef struct {
    const char *name;
    OnnxAttrKind kind;
    int64_t i;
    float f;
    const char *s;
    int count;                  /* OA_INTS, OA_FLOATS, OA_STRINGS */
    const int64_t *ints;
    const float *floats;
    const char *const *strings;
    const OnnxConst *t;         /* OA_TENSOR */
} OnnxAttr;

typedef struct {
    const char *name;           /* "" when an optional input is left out */
    Value *value;               /* the float value flowing in, NULL if absent or not float */
    const OnnxConst *konst;     /* its data when known at import, else NULL */
} OnnxInput;

typedef struct OnnxImporter OnnxImporter;

typedef struct {
    OnnxImporter *imp;
    Graph *g;
    Diags *diags;
    Loc loc;                    /* file and node, for every message about it */
    int opset;                  /* of the default domain */
    int n_inputs;
    const OnnxInput *inputs;
    const char *output;         /* the name of output 0: the final op's result */
    int n_attrs;
    const OnnxAttr *attrs;
    /* Every output's name ("" when left out); a lowering of several outputs
     * (Split) sets results[k] for each, onnx.c defines them all. */
    int n_outputs;
    const char *const *outputs;
    Value **results;
} OnnxNode;

/* onnx_ops_math.c: Equal, Less, Greater, LessOrEqual, GreaterOrEqual, Not,
 * And, Or, Xor and Where of values computed at run time; NULL if op_type is
 * none of them and no message reported (*handled false). */
Value *onnx_lower_logic(const OnnxNode *n, const char *op_type, bool *handled);

/* onnx_ops.c */
bool onnx_op_supported(const char *op_type);
/* Lowers a supported node (not Constant: onnx.c handles that) to one or more
 * IR ops, the last one computing node->output, and returns that value; or
 * computes it at import (onnx_fold.c), returning NULL with *folded set to the
 * result; or returns NULL with *folded NULL after reporting the problem at
 * node->loc. */
Value *onnx_lower_node(const OnnxNode *node, const char *op_type, const OnnxConst **folded);
/* onnx_fold.c: the nodes computed at import, on known data (OnnxConst): shape
 * arithmetic (Shape, Size, Gather, Slice, Concat, Cast, ConstantOfShape,
 * Expand, Range, Squeeze, Unsqueeze, Reshape, arithmetic, comparisons, Where)
 * as exports without constant folding carry it.  onnx_fold_applies() says
 * whether a node of a folding operator is computed so (its inputs known, or
 * only their shapes needed); onnx_fold_node() computes it, NULL after an
 * error.  onnx_lower_value_form() (onnx_fold_values.c) lowers the folding
 * operators that have an IR form on a float value (Slice, Expand, Cast,
 * Gather), and reports the others as not supported on values computed at run
 * time. */
bool onnx_fold_applies(const OnnxNode *node, const char *op_type);
const OnnxConst *onnx_fold_node(const OnnxNode *node, const char *op_type);
Value *onnx_lower_value_form(const OnnxNode *node, const char *op_type);

/* onnx_ops_math.c: the element-wise math, variadic, reduction and normalization
 * operators (kind as onnx_ops.c's table maps op_type), and a Clip whose bounds
 * are values (opset 11 on; min and max then lower as max and min ops). */
Value *onnx_lower_math(const OnnxNode *node, const char *op_type, OpKind kind);
Value *onnx_lower_clip_values(const OnnxNode *node);

/* onnx_ops_layout.c: ConvTranspose, Resize and Upsample, Slice on a graph
 * value, Split (one slice per output, into node->results) and Tile. */
Value *onnx_lower_convtranspose(const OnnxNode *node);
Value *onnx_lower_resize(const OnnxNode *node, const char *op_type);
Value *onnx_lower_slice(const OnnxNode *node);
Value *onnx_lower_split(const OnnxNode *node);
Value *onnx_lower_tile(const OnnxNode *node);
/* DepthToSpace (DCR, CRD) and SpaceToDepth: reshape, transpose, reshape. */
Value *onnx_lower_depth_space(const OnnxNode *node, const char *op_type);
/* onnx_ops_einsum.c: Einsum of one or two operands as sums, transposes and
 * one batched matmul. */
Value *onnx_lower_einsum(const OnnxNode *node);
/* ReverseSequence with known sequence_lens: slices (step -1) and concats. */
Value *onnx_lower_reverse_sequence(const OnnxNode *node);
/* GridSample-16 (4-D): one gridsample op. */
Value *onnx_lower_gridsample(const OnnxNode *node);

/* onnx_ops_index.c: ArgMax, ArgMin, GatherElements, Mod, Trilu, CumSum, OneHot,
 * TopK (its values and indices into node->results). */
Value *onnx_lower_index(const OnnxNode *node, const char *op_type);

/* onnx_ops_rnn.c: LSTM, GRU and RNN unrolled over their (static) sequence
 * into matmuls and gate ops; outputs Y, Y_h (and Y_c) into node->results. */
Value *onnx_lower_rnn(const OnnxNode *node, const char *op_type);

/* onnx_ops.c: reading a node and emitting its ops, for every lowering file.
 * A reader reports what is wrong at the node and returns NULL / false. */
Value *onnx_fail(const OnnxNode *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const OnnxAttr *onnx_attr(const OnnxNode *n, const char *name);       /* NULL if absent */
bool onnx_get_int(const OnnxNode *n, const char *name, int64_t dflt, int64_t *out);
bool onnx_get_float(const OnnxNode *n, const char *name, float dflt, float *out);
bool onnx_get_string(const OnnxNode *n, const char *name, const char *dflt, const char **out);
/* `count` ints (count < 0: any number up to 2 * IR_MAX_RANK), or dflt repeated
 * when absent; *got gets the number read. */
bool onnx_get_ints(const OnnxNode *n, const char *name, int count, int64_t dflt, int64_t *out, int *got);
bool onnx_has_input(const OnnxNode *n, int i);                        /* present and not "" */
/* Input i, present, as an IR value: a value computed at run time, or data
 * known at import as an IR constant of its dtype (an integer beyond +-2^24,
 * not exact in float32 storage, is refused). */
Value *onnx_data_input(const OnnxNode *n, int i);
/* Input i's data known at import (must be), and decodable. */
const OnnxConst *onnx_const_input(const OnnxNode *n, int i, const char *what);
/* A short integer list (axes, pads, shape) given as constant input i. */
bool onnx_ints_input(const OnnxNode *n, int i, const char *what, int64_t *out, int *count);
bool onnx_float_input(const OnnxNode *n, int i, const char *what, float *out);   /* one value */
/* Maps axes in [-rank, rank) to [0, rank). */
bool onnx_normalize_axes(const OnnxNode *n, const char *what, int64_t *axes, int count, int rank);
/* Appends an op at the node (untyped until onnx_typed: set its attributes between). */
Op *onnx_emit(const OnnxNode *n, OpKind kind, Value *const *inputs, int count, const char *name);
Value *onnx_typed(const OnnxNode *n, Op *op);                         /* its result, typed; NULL on error */
Value *onnx_unary(const OnnxNode *n, OpKind kind);                    /* kind(input 0), no attributes */
/* Squeeze/Unsqueeze axes (attribute or input, by opset), not normalized. */
bool onnx_read_axes(const OnnxNode *n, int64_t *axes, int *count, bool *present);
/* Reshape's shape resolved in place against the input type (0 and -1). */
bool onnx_reshape_resolve(const OnnxNode *n, const Type *xt, int64_t *shape, int count, bool allowzero);

/* onnx_legacy.c: a node of opset 1 to 6 in the form onnx_lower_node reads
 * (the legacy attributes rewritten or refused); false after an error. */
bool onnx_upgrade_legacy(const OnnxNode *node, const char *op_type, OnnxNode *out);

/* onnx.c */
const char *onnx_fresh_name(OnnxImporter *imp, const char *stem);   /* unused in the model and graph */

/* onnx_tensor.c */
/* Checks that `dims` make a sane tensor (rank, no absurd or overflowing
 * size) and stores them in out; `what` and `name` say which in messages. */
bool onnx_check_dims(Diags *diags, const Loc *loc, const char *what, const char *name,
                     size_t rank, const int64_t *dims, OnnxConst *out);
const char *onnx_elem_type_name(int elem_type);                     /* "float", "int64", ... */
bool onnx_elem_is_float(int elem_type);     /* float, double, float16: float32 in xbarc */
bool onnx_elem_is_integer(int elem_type);   /* the integer types and bool, decoded into OnnxConst.i */
bool onnx_dtype(int elem_type, DType *out); /* the IR's dtype of an ONNX element type; false if none */
int onnx_elem_of_dtype(DType dtype);        /* and back */
float half_to_float(uint32_t bits);         /* IEEE half precision, exact */
uint16_t float_to_half(float f);            /* rounded to nearest even */
/* Reads a TensorProto file; *name gets the proto's name ("" when it has none). */
bool onnx_read_tensor_file(Arena *arena, const char *path, const char **name, OnnxConst *out,
                           Diags *diags);
/* The same from the file's bytes (`path` names it in messages). */
bool onnx_read_tensor_memory(Arena *arena, const char *path, const uint8_t *bytes, size_t size,
                             const char **name, OnnxConst *out, Diags *diags);

#endif
