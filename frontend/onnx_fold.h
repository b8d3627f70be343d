/* onnx_fold.h: private to onnx_fold.c and onnx_fold_values.c, the readers
 * of a folding node that both use (onnx_fold.c defines them). */
#ifndef XBARC_FRONTEND_ONNX_FOLD_H
#define XBARC_FRONTEND_ONNX_FOLD_H

#include "frontend/onnx_node.h"

/* Input i as known integer data, else NULL (reported). */
const OnnxConst *onnx_fold_int_input(const OnnxNode *n, int i, const char *what);
/* The numpy broadcast of dims a and b (multidirectional), else reported. */
bool onnx_fold_broadcast(const OnnxNode *n, int rank_a, const int64_t *a, int rank_b, const int64_t *b, int *rank,
                         int64_t *dims);
/* Slice's parameters for every axis of a `rank`-D input of `dims`: the first
 * index, the step and the count taken, ONNX's clamping applied (starts, ends,
 * axes and steps as inputs since opset 10, attributes before). */
bool onnx_fold_slice_params(const OnnxNode *n, int rank, const int64_t *dims, int64_t *first, int64_t *step,
                            int64_t *count);
/* Cast's `to`, or CastLike's target type (input 1's element type). */
bool onnx_fold_cast_target(const OnnxNode *n, bool like, int *to);

#endif
