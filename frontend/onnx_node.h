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
 * frontend cannot decode (strings, float16...) have both NULL. */
typedef struct {
    int elem_type;              /* ONNX TensorProto.DataType */
    int rank;
    int64_t dims[IR_MAX_RANK];
    int64_t numel;              /* may be 0 (an empty shape list, say) */
    float *f;
    int64_t *i;
} OnnxConst;

typedef enum { OA_OTHER, OA_INT, OA_FLOAT, OA_INTS, OA_FLOATS, OA_STRING, OA_TENSOR } OnnxAttrKind;

typedef struct {
    const char *name;
    OnnxAttrKind kind;
    int64_t i;
    float f;
    const char *s;
    int count;                  /* OA_INTS, OA_FLOATS */
    const int64_t *ints;
    const float *floats;
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
} OnnxNode;

/* onnx_ops.c */
bool onnx_op_supported(const char *op_type);
/* Lowers a supported node (not Constant: onnx.c handles that) to one or more
 * IR ops, the last one computing node->output.  Returns that value, or NULL
 * after reporting the problem at node->loc. */
Value *onnx_lower_node(const OnnxNode *node, const char *op_type);

/* onnx_legacy.c: a node of opset 1 to 6 in the form onnx_lower_node reads
 * (the legacy attributes rewritten or refused); false after an error. */
bool onnx_upgrade_legacy(const OnnxNode *node, const char *op_type, OnnxNode *out);

/* onnx.c */
const char *onnx_fresh_name(OnnxImporter *imp, const char *stem);   /* unused in the model and graph */

/* onnx_tensor.c */
const char *onnx_elem_type_name(int elem_type);                     /* "float", "int64", ... */
/* Reads a TensorProto file; *name gets the proto's name ("" when it has none). */
bool onnx_read_tensor_file(Arena *arena, const char *path, const char **name, OnnxConst *out,
                           Diags *diags);
/* The same from the file's bytes (`path` names it in messages). */
bool onnx_read_tensor_memory(Arena *arena, const char *path, const uint8_t *bytes, size_t size,
                             const char **name, OnnxConst *out, Diags *diags);

#endif
