/* onnx_fold.h: private to onnx_fold*.c, the readers and results of a
 * folding node that they share (onnx_fold.c defines them) and what
 * onnx_fold_index.c defines. */
#ifndef XBARC_FRONTEND_ONNX_FOLD_H
#define XBARC_FRONTEND_ONNX_FOLD_H

#include "frontend/onnx_node.h"

/* Input i as known data of a decoded element type, else NULL (reported). */
const OnnxConst *onnx_fold_known_input(const OnnxNode *n, int i);
/* Input i as known integer data, else NULL (reported). */
const OnnxConst *onnx_fold_int_input(const OnnxNode *n, int i, const char *what);
/* The numpy broadcast of dims a and b (multidirectional), else reported. */
bool onnx_fold_broadcast(const OnnxNode *n, int rank_a, const int64_t *a, int rank_b, const int64_t *b, int *rank,
                         int64_t *dims);
/* Cast's `to`, or CastLike's target type (input 1's element type). */
bool onnx_fold_cast_target(const OnnxNode *n, bool like, int *to);

/* A new known tensor of that type and dims, its size checked against the
 * memory limit with all the import holds, else NULL (reported). */
OnnxConst *onnx_fold_result(const OnnxNode *n, int elem_type, int rank, const int64_t *dims);
/* Element sj of src as element dj of dst (the same element type). */
void onnx_fold_copy(OnnxConst *dst, int64_t dj, const OnnxConst *src, int64_t sj);
/* Element j of k set to v as k's element type holds it (integers wrapped to
 * their width, float16 rounded). */
void onnx_fold_set_int(OnnxConst *k, int64_t j, int64_t v);
void onnx_fold_set_float(OnnxConst *k, int64_t j, float v);

/* onnx_fold_index.c: Gather, Slice, ScatterND and ScatterElements (Scatter)
 * of known data. */
const OnnxConst *onnx_fold_gather(const OnnxNode *n);
const OnnxConst *onnx_fold_slice(const OnnxNode *n);
/* Slice's parameters for every axis of a `rank`-D input of `dims`: the first
 * index, the step and the count taken, ONNX's clamping applied (starts, ends,
 * axes and steps as inputs since opset 10, attributes before). */
bool onnx_fold_slice_params(const OnnxNode *n, int rank, const int64_t *dims, int64_t *first, int64_t *step,
                            int64_t *count);
const OnnxConst *onnx_fold_scatter_nd(const OnnxNode *n);
const OnnxConst *onnx_fold_scatter_elements(const OnnxNode *n);
/* ScatterND's and ScatterElements' `reduction` (opset 16: none, add, mul;
 * 18: max, min), else false (reported). */
bool onnx_scatter_reduction(const OnnxNode *n, ScatterReduction *out);

#endif
