/* onnx_ops_einsum.c: Einsum of one or two operands as transposes, sums and
 * one batched matmul.
 *
 * Each letter of the equation is classified by where it appears: in both
 * operands and the output (a batch axis), in both operands only (contracted
 * by the product), in one operand and the output (kept), or in one operand
 * only (summed away first).  Then A is arranged as [batch, kept of A,
 * contracted] and B as [batch, contracted, kept of B], both flattened to
 * rank 3, multiplied, and the product reshaped and transposed into the
 * output's order.  The forms torch exports (bij,bjk->bik, bhid,bhjd->bhij,
 * i,i, ij->ji, ij->i, "..." batch axes) are of this kind; a letter repeated
 * within one operand (a diagonal), more than two operands and batch axes of
 * different sizes are not supported. */
#include "frontend/onnx_node.h"

#include <string.h>

enum { EINSUM_LETTERS = 52 };

typedef struct {
    int rank;
    char letters[IR_MAX_RANK];      /* one letter an axis */
} Term;

static int letter_index(char c)
{
    return c >= 'a' && c <= 'z' ? c - 'a' : c >= 'A' && c <= 'Z' ? 26 + c - 'A' : -1;
}

/* One term of the equation (spaces skipped), its "..." expanded into
 * `ellipsis` letters taken from the unused upper end ('Z' down). */
static bool parse_term(const OnnxNode *n, const char *text, size_t length, int rank, int ellipsis, Term *t)
{
    t->rank = 0;
    for (size_t i = 0; i < length; i++) {
        char c = text[i];
        if (c == ' ')
            continue;
        if (c == '.' && i + 2 < length && text[i + 1] == '.' && text[i + 2] == '.') {
            for (int k = 0; k < ellipsis && t->rank < IR_MAX_RANK; k++)
                t->letters[t->rank++] = (char)('Z' - (ellipsis - 1 - k));
            i += 2;
            continue;
        }
        if (letter_index(c) < 0 || t->rank >= IR_MAX_RANK)
            return onnx_fail(n, "equation: '%c' is not a letter, or a term has over %d axes", c, IR_MAX_RANK), false;
        t->letters[t->rank++] = c;
    }
    if (rank >= 0 && t->rank != rank)
        return onnx_fail(n, "equation: a term of %d axes for an operand of rank %d", t->rank, rank), false;
    return true;
}

static int position(const Term *t, char c)
{
    for (int i = 0; i < t->rank; i++)
        if (t->letters[i] == c)
            return i;
    return -1;
}

static Value *emit(const OnnxNode *n, OpKind kind, Value **in, int count, const char *stem, const char *attr,
                   const int64_t *ints, int n_ints, bool last)
{
    const char *name = last ? n->output : onnx_fresh_name(n->imp, arena_printf(n->g->arena, "%s.%s", n->output, stem));
    Op *op = onnx_emit(n, kind, in, count, name);
    if (attr)
        ir_set_ints(n->g, op, attr, ints, n_ints);
    if (kind == OP_REDUCESUM)
        ir_set_int(n->g, op, "keepdims", 0);
    return onnx_typed(n, op);
}

/* x (term t) with the letters not in `keep` summed away, the rest moved
 * into the order of `order`; *t becomes `order`. */
static Value *sum_and_arrange(const OnnxNode *n, Value *x, Term *t, const Term *order, const char *stem)
{
    int64_t axes[IR_MAX_RANK], perm[IR_MAX_RANK];
    int n_axes = 0;
    Term left = {0};
    for (int i = 0; i < t->rank; i++) {
        if (position(order, t->letters[i]) < 0)
            axes[n_axes++] = i;
        else
            left.letters[left.rank++] = t->letters[i];
    }
    if (n_axes && !(x = emit(n, OP_REDUCESUM, &x, 1, stem, "axes", axes, n_axes, false)))
        return NULL;
    bool moved = false;
    for (int i = 0; i < order->rank; i++) {
        perm[i] = position(&left, order->letters[i]);
        moved |= perm[i] != i;
    }
    *t = *order;
    return moved ? emit(n, OP_TRANSPOSE, &x, 1, stem, "perm", perm, order->rank, false) : x;
}

/* x under other dims; x itself when it has them already (not the output),
 * so that a constant weight stays a constant operand for lower-xbar. */
static Value *reshaped(const OnnxNode *n, Value *x, const int64_t *dims, int rank, const char *stem, bool last)
{
    Type t = type_make(rank, dims);
    if (!last && type_equal(&t, &x->type))
        return x;
    return emit(n, OP_RESHAPE, &x, 1, stem, "shape", dims, rank, last);
}

Value *onnx_lower_einsum(const OnnxNode *n)
{
    const char *eq;
    if (!onnx_get_string(n, "equation", NULL, &eq))
        return NULL;
    if (!eq)
        return onnx_fail(n, "missing attribute 'equation'");
    if (n->n_inputs < 1 || n->n_inputs > 2)
        return onnx_fail(n, "Einsum of %d operands is not supported (1 or 2)", n->n_inputs);
    Value *x[2] = {NULL, NULL};
    Term in[2], out;
    const char *arrow = strstr(eq, "->"), *end = arrow ? arrow : eq + strlen(eq), *p = eq;
    int ellipsis = 0;
    for (int k = 0; k < n->n_inputs; k++) {
        if (!(x[k] = onnx_data_input(n, k)))
            return NULL;
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = k + 1 < n->n_inputs ? comma : end;
        if (!stop || (k + 1 == n->n_inputs && comma))
            return onnx_fail(n, "equation '%s' does not have %d operand terms", eq, n->n_inputs);
        size_t explicit_axes = 0;
        for (const char *c = p; c < stop; c++)
            explicit_axes += letter_index(*c) >= 0;
        int extra = strstr(p, "...") && strstr(p, "...") < stop ? x[k]->type.rank - (int)explicit_axes : 0;
        if (extra < 0)
            return onnx_fail(n, "equation term %d has more letters than operand %d has axes", k, k);
        ellipsis = extra > ellipsis ? extra : ellipsis;
        if (!parse_term(n, p, (size_t)(stop - p), x[k]->type.rank, extra, &in[k]))
            return NULL;
        p = stop + 1;
    }
    int count[EINSUM_LETTERS] = {0};
    int64_t size[EINSUM_LETTERS] = {0};
    for (int k = 0; k < n->n_inputs; k++)
        for (int i = 0; i < in[k].rank; i++) {
            int l = letter_index(in[k].letters[i]);
            if (position(&in[k], in[k].letters[i]) != i)
                return onnx_fail(n, "Einsum with a letter repeated in one operand ('%c': a diagonal) is not supported",
                                 in[k].letters[i]);
            if (count[l] && size[l] != x[k]->type.dims[i])
                return onnx_fail(n, "Einsum axis '%c' of sizes %lld and %lld is not supported (no broadcasting)",
                                 in[k].letters[i], (long long)size[l], (long long)x[k]->type.dims[i]);
            count[l]++;
            size[l] = x[k]->type.dims[i];
        }
    if (arrow) {
        if (!parse_term(n, arrow + 2, strlen(arrow + 2), -1, ellipsis, &out))
            return NULL;
    } else {            /* implicit: the "..." axes, then the letters seen once, alphabetically */
        out.rank = 0;
        for (int k = 0; k < ellipsis; k++)
            out.letters[out.rank++] = (char)('Z' - (ellipsis - 1 - k));
        for (int l = 0; l < EINSUM_LETTERS; l++)
            if (count[l] == 1 && out.rank < IR_MAX_RANK && !(l >= 52 - ellipsis))
                out.letters[out.rank++] = (char)(l < 26 ? 'a' + l : 'A' + l - 26);
    }
    for (int i = 0; i < out.rank; i++)
        if (!count[letter_index(out.letters[i])] || position(&out, out.letters[i]) != i)
            return onnx_fail(n, "equation '%s': output letter '%c' is in no operand, or twice", eq, out.letters[i]);
    if (n->n_inputs == 1) {
        Value *y = sum_and_arrange(n, x[0], &in[0], &out, "sum");
        return y ? emit(n, OP_IDENTITY, &y, 1, NULL, NULL, NULL, 0, true) : NULL;
    }
    /* Two operands: [batch, kept A, contracted] x [batch, contracted, kept B]. */
    Term order_a = {0}, order_b = {0}, batch = {0}, kept_a = {0}, kept_b = {0}, contracted = {0};
    for (int i = 0; i < out.rank; i++) {
        char c = out.letters[i];
        bool a = position(&in[0], c) >= 0, b = position(&in[1], c) >= 0;
        Term *t = a && b ? &batch : a ? &kept_a : &kept_b;
        t->letters[t->rank++] = c;
    }
    for (int i = 0; i < in[0].rank; i++)
        if (position(&in[1], in[0].letters[i]) >= 0 && position(&out, in[0].letters[i]) < 0)
            contracted.letters[contracted.rank++] = in[0].letters[i];
    int64_t nb = 1, na = 1, nc = 1, nk = 1;
    const Term *groups[4] = {&batch, &kept_a, &contracted, &kept_b};
    int64_t *products[4] = {&nb, &na, &nc, &nk};
    for (int g = 0; g < 4; g++)
        for (int i = 0; i < groups[g]->rank; i++)
            *products[g] *= size[letter_index(groups[g]->letters[i])];
    for (int g = 0; g < 3; g++)
        for (int i = 0; i < groups[g]->rank; i++)
            order_a.letters[order_a.rank++] = groups[g]->letters[i];
    const Term *b_groups[3] = {&batch, &contracted, &kept_b};
    for (int g = 0; g < 3; g++)
        for (int i = 0; i < b_groups[g]->rank; i++)
            order_b.letters[order_b.rank++] = b_groups[g]->letters[i];
    Value *a = sum_and_arrange(n, x[0], &in[0], &order_a, "a");
    Value *b = a ? sum_and_arrange(n, x[1], &in[1], &order_b, "b") : NULL;
    /* Without batch axes the product is 2-D: a constant B is then a crossbar layer's weight. */
    int64_t a3[3] = {nb, na, nc}, b3[3] = {nb, nc, nk};
    int r3 = nb == 1 ? 2 : 3;
    Value *pair[2] = {a ? reshaped(n, a, a3 + 3 - r3, r3, "a3", false) : NULL,
                      b ? reshaped(n, b, b3 + 3 - r3, r3, "b3", false) : NULL};
    if (!pair[0] || !pair[1])
        return NULL;
    Value *prod = emit(n, OP_MATMUL, pair, 2, "product", NULL, NULL, 0, false);
    Term prod_order = {0};
    int64_t dims[IR_MAX_RANK], perm[IR_MAX_RANK];
    const Term *p_groups[3] = {&batch, &kept_a, &kept_b};
    for (int g = 0; g < 3; g++)
        for (int i = 0; i < p_groups[g]->rank; i++) {
            dims[prod_order.rank] = size[letter_index(p_groups[g]->letters[i])];
            prod_order.letters[prod_order.rank++] = p_groups[g]->letters[i];
        }
    bool moved = false;
    for (int i = 0; i < out.rank; i++) {
        perm[i] = position(&prod_order, out.letters[i]);
        moved |= perm[i] != i;
    }
    Value *y = prod ? reshaped(n, prod, dims, prod_order.rank, "unflat", !moved) : NULL;
    return y && moved ? emit(n, OP_TRANSPOSE, &y, 1, NULL, "perm", perm, out.rank, true) : y;
}
