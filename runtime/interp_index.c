/* interp_index.c: the element-type and indexing ops of ops.def (cast, mod,
 * argmax, argmin, gather, gatherelements, scatternd, scatterelements, trilu,
 * cumsum, topk), for interp_exec_op
 * (so the simulator's digital units run them too): attributes read, kernels
 * of runtime/kernels_index.c called.  An index out of range is bad input met
 * at run time: reported with the op's location, and the process exits 1
 * (interp_exec_op has no error path; nothing is left half written, since
 * every output file is committed only after a run). */
#include "runtime.h"
#include "kernels.h"

#include <stdlib.h>

static int64_t extent(const Type *t, int from, int to)
{
    int64_t n = 1;
    for (int i = from; i < to; i++)
        n *= t->dims[i];
    return n;
}

static void index_fault(const Op *op, float index, int64_t len)
{
    Arena *arena = arena_new();
    fprintf(stderr, "%s: error: %s: index %.0f is out of range [%lld, %lld)\n", loc_format(arena, &op->loc),
            op_info[op->kind].name, (double)index, (long long)-len, (long long)len);
    arena_free(arena);
    fflush(NULL);
    exit(1);
}

static CastMode cast_mode(DType to)
{
    return to == DT_BOOL ? CAST_BOOL : dtype_is_int(to) ? CAST_INT : CAST_FLOAT;
}

void interp_exec_index(const Op *op, const float *const *in, float *y)
{
    const Type *xt = &op->inputs[0]->type, *yt = &op->result->type;
    int axis = (int)ir_attr_int(op, "axis", 0);
    switch (op->kind) {
    case OP_CAST:
        kernel_cast(type_numel(yt), cast_mode(yt->dtype), in[0], y);
        break;
    case OP_MOD: {
        const Type *bt = &op->inputs[1]->type;
        kernel_binary(ir_attr_int(op, "fmod", 0) ? BINARY_FMOD : BINARY_MOD, in[0], xt->rank, xt->dims, in[1],
                      bt->rank, bt->dims, y);
        break;
    }
    case OP_ARGMAX:
    case OP_ARGMIN:
        kernel_argextreme(extent(xt, 0, axis), xt->dims[axis], extent(xt, axis + 1, xt->rank),
                          op->kind == OP_ARGMAX, ir_attr_int(op, "select_last_index", 0), in[0], y);
        break;
    case OP_GATHER: {
        const Type *it = &op->inputs[1]->type;
        int64_t len = xt->dims[axis];
        int64_t bad = kernel_gather(extent(xt, 0, axis), len, extent(xt, axis + 1, xt->rank), in[0],
                                    type_numel(it), in[1], y);
        if (bad >= 0)
            index_fault(op, in[1][bad], len);
        break;
    }
    case OP_GATHERELEMENTS: {
        const Type *it = &op->inputs[1]->type;
        int64_t bad = kernel_gather_elements(xt->rank, xt->dims, in[0], it->dims, in[1], axis, y);
        if (bad >= 0)
            index_fault(op, in[1][bad], xt->dims[axis]);
        break;
    }
    case OP_SCATTERND:
    case OP_SCATTERELEMENTS: {
        const Type *it = &op->inputs[1]->type;
        ScatterReduction reduction = SCATTER_NONE;
        const Attr *named = ir_attr(op, "reduction");
        if (named && named->kind == ATTR_STRING)
            scatter_reduction_from_name(named->s, &reduction);      /* checked by ir_infer_type */
        int64_t bad, len;
        if (op->kind == OP_SCATTERND) {
            int k = (int)it->dims[it->rank - 1];
            bad = kernel_scatter_nd(xt->rank, xt->dims, in[0], type_numel(it) / k, k, in[1], in[2], (int)reduction, y);
            len = bad >= 0 ? xt->dims[bad % k] : 0;
        } else {
            bad = kernel_scatter_elements(xt->rank, xt->dims, in[0], it->dims, in[1], in[2], axis, (int)reduction, y);
            len = xt->dims[axis];
        }
        if (bad >= 0)
            index_fault(op, in[1][bad], len);
        break;
    }
    case OP_TOPK:
        kernel_topk(extent(xt, 0, axis), xt->dims[axis], extent(xt, axis + 1, xt->rank), ir_attr_int(op, "k", 1),
                    ir_attr_int(op, "largest", 1), in[0], y);
        break;
    case OP_TRILU:
        kernel_trilu(extent(xt, 0, xt->rank - 2), xt->dims[xt->rank - 2], xt->dims[xt->rank - 1],
                     ir_attr_int(op, "upper", 1), ir_attr_int(op, "k", 0), in[0], y);
        break;
    case OP_CUMSUM:
        kernel_cumsum(extent(xt, 0, axis), xt->dims[axis], extent(xt, axis + 1, xt->rank),
                      ir_attr_int(op, "exclusive", 0), ir_attr_int(op, "reverse", 0), in[0], y);
        break;
    default:
        break;
    }
}
