/* onnx_tensor.h: private to frontend/, the TensorProto decoding that onnx.c
 * (initializers, Constant values, attribute tensors) shares with
 * onnx_tensor.c.  It brings in the generated protobuf-c header, so only the
 * files that read protobuf include it. */
#ifndef XBARC_FRONTEND_ONNX_TENSOR_H
#define XBARC_FRONTEND_ONNX_TENSOR_H

#include "frontend/onnx_node.h"
#include "onnx.pb-c.h"

/* The dims and element type of `t`, checked, and for the types the frontend
 * decodes its data count against them (before anything is allocated);
 * external and segmented data are refused. */
bool onnx_tensor_shape(Diags *diags, const Loc *loc, const char *name, const Onnx__TensorProto *t,
                       OnnxConst *out);
/* Decodes the data of `t` (whose shape `out` holds) into `dest` (numel
 * floats; NULL: allocate) and, for integer types, out->i. */
bool onnx_tensor_data(Arena *arena, Diags *diags, const Loc *loc, const char *name,
                      const Onnx__TensorProto *t, OnnxConst *out, float *dest);
/* The raw data of a float tensor `t` (shape in k) as the host's float array,
 * to be taken without a copy, or NULL when it is not one (typed fields, a
 * big-endian host, a wrong length, misaligned, empty). */
float *onnx_tensor_raw_floats(const Onnx__TensorProto *t, const OnnxConst *k);

#endif
