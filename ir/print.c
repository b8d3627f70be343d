/* print.c: the graph as .xir text (the grammar is in ir.h).
 *
 * The printer is the canonical writer of the format: ir_parse() reads back
 * exactly what it writes, so print -> parse -> print is the identity, and every
 * float (constant data or attribute) comes back with the same bits.  A float
 * is written in the shorter of %.6g and %.9g that reads back to itself and always
 * carries a '.', an 'e', inf or nan so that the parser can tell it from an int.
 * Big constants are written as hex of their little-endian float32 bytes through a
 * buffer of our own: ResNet-50's 25M weights are 200 MB of hex, far too many for
 * one stdio call per byte. */
#include "ir.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Writes `f` into buf (at least 32 bytes) so that strtof() gives back its bits;
 * every NaN becomes plain "nan". */
static void format_float(char *buf, size_t size, float f)
{
    if (isnan(f)) {
        snprintf(buf, size, "nan");
        return;
    }
    if (isinf(f)) {
        snprintf(buf, size, f < 0 ? "-inf" : "inf");
        return;
    }
    snprintf(buf, size, "%.6g", f);
    float back = strtof(buf, NULL);
    if (memcmp(&back, &f, sizeof f) != 0)
        snprintf(buf, size, "%.9g", f);
    if (!strpbrk(buf, ".e"))
        strncat(buf, ".0", size - strlen(buf) - 1);
}

/* A name is written bare when it is a non-empty run of [A-Za-z0-9_.$-]. */
static bool is_bare_name(const char *name)
{
    if (!*name)
        return false;
    for (const char *p = name; *p; p++)
        if (!strchr("_.$-", *p) && !(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') &&
            !(*p >= '0' && *p <= '9'))
            return false;
    return true;
}

/* One byte of a quoted string: \" \\ \n escaped, other control bytes as \xHH,
 * bytes >= 0x80 (UTF-8) as they are. */
static const char *escape_byte(unsigned char c, char buf[8])
{
    if (c == '"' || c == '\\')
        snprintf(buf, 8, "\\%c", c);
    else if (c == '\n')
        snprintf(buf, 8, "\\n");
    else if (c < 0x20 || c == 0x7f)
        snprintf(buf, 8, "\\x%02x", c);
    else
        snprintf(buf, 8, "%c", c);
    return buf;
}

static void print_string(FILE *out, const char *s)
{
    char buf[8];
    putc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        fputs(escape_byte(*p, buf), out);
    putc('"', out);
}

char *ir_name_text(Arena *arena, const char *name)
{
    if (is_bare_name(name))
        return arena_strdup(arena, name);
    char buf[8];
    size_t len = 2;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        len += strlen(escape_byte(*p, buf));
    char *text = arena_alloc(arena, len + 1), *o = text;
    *o++ = '"';
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        o += sprintf(o, "%s", escape_byte(*p, buf));
    *o = '"';
    return text;
}

static void print_name(FILE *out, char sigil, const char *name)
{
    putc(sigil, out);
    if (is_bare_name(name))
        fputs(name, out);
    else
        print_string(out, name);
}

static void print_type(FILE *out, const Type *type)
{
    fprintf(out, "%s[", dtype_name(type->dtype));
    for (int i = 0; i < type->rank; i++)
        fprintf(out, "%s%lld", i ? "," : "", (long long)type->dims[i]);
    putc(']', out);
}

/* Attribute names are bare when they start like an identifier ([A-Za-z_]). */
static void print_attr(FILE *out, const Attr *a)
{
    char buf[40];
    char c = a->name[0];
    if (is_bare_name(a->name) && (c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
        fputs(a->name, out);
    else
        print_string(out, a->name);
    fputs(" = ", out);
    switch (a->kind) {
    case ATTR_INT:
        fprintf(out, "%lld", (long long)a->i);
        break;
    case ATTR_FLOAT:
        format_float(buf, sizeof buf, a->f);
        fputs(buf, out);
        break;
    case ATTR_INTS:
        putc('[', out);
        for (int i = 0; i < a->count; i++)
            fprintf(out, "%s%lld", i ? ", " : "", (long long)a->ints[i]);
        putc(']', out);
        break;
    case ATTR_FLOATS:
        putc('[', out);
        for (int i = 0; i < a->count; i++) {
            format_float(buf, sizeof buf, a->floats[i]);
            fprintf(out, "%s%s", i ? ", " : "", buf);
        }
        putc(']', out);
        break;
    case ATTR_STRING:
        print_string(out, a->s ? a->s : "");
        break;
    }
}

/* hex"..." of the little-endian bytes of n floats, through a local buffer. */
static void print_hex(FILE *out, const float *data, int64_t n)
{
    static const char digits[] = "0123456789abcdef";
    char buf[8192];
    size_t len = 0;
    fputs("hex\"", out);
    for (int64_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &data[i], sizeof bits);
        for (int byte = 0; byte < 4; byte++) {
            unsigned b = (bits >> (8 * byte)) & 0xff;
            buf[len++] = digits[b >> 4];
            buf[len++] = digits[b & 15];
        }
        if (len > sizeof buf - 8) {
            fwrite(buf, 1, len, out);
            len = 0;
        }
    }
    fwrite(buf, 1, len, out);
    putc('"', out);
}

static void print_const(FILE *out, const Value *v, const PrintOptions *options)
{
    fputs("  const ", out);
    print_name(out, '%', v->name);
    fputs(" : ", out);
    print_type(out, &v->type);
    fputs(" = ", out);
    int64_t n = type_numel(&v->type);
    if ((options && options->elide_constants) || !v->data) {
        fputs("elided", out);
    } else if (n <= IR_DECIMAL_LIMIT) {
        char buf[40];
        putc('[', out);
        bool ints = !dtype_is_float(v->type.dtype);
        for (int64_t i = 0; i < n; i++) {
            float f = v->data[i];
            if (ints && f == truncf(f) && fabsf(f) <= (float)DTYPE_EXACT_INT)
                snprintf(buf, sizeof buf, "%lld", (long long)f);    /* an integer dtype's data as integers */
            else
                format_float(buf, sizeof buf, f);
            fprintf(out, "%s%s", i ? ", " : "", buf);
        }
        putc(']', out);
    } else {
        print_hex(out, v->data, n);
    }
    putc('\n', out);
}

static void print_op(FILE *out, const Op *op)
{
    fputs("  ", out);
    print_name(out, '%', op->result->name);
    fputs(" : ", out);
    print_type(out, &op->result->type);
    fprintf(out, " = %s(", op->kind < OP_COUNT ? op_info[op->kind].name : "?");
    for (int i = 0; i < op->n_inputs; i++) {
        if (i)
            fputs(", ", out);
        print_name(out, '%', op->inputs[i] ? op->inputs[i]->name : "?");
    }
    putc(')', out);
    if (op->n_attrs) {
        fputs(" {", out);
        for (int i = 0; i < op->n_attrs; i++) {
            if (i)
                fputs(", ", out);
            print_attr(out, &op->attrs[i]);
        }
        putc('}', out);
    }
    if (op->loc.node) {
        fputs(" loc(", out);
        print_string(out, op->loc.node);
        fprintf(out, " #%d)", op->loc.node_index);
    }
    /* A dead op is a pass's bug the verifier reports; show it rather than hide it. */
    if (op->dead)
        fputs("  # dead", out);
    putc('\n', out);
}

/* `arch {adc_bits = 8, ...}`: every field, sorted by name, in attribute syntax. */
static void print_arch(FILE *out, const Arch *arch)
{
    Arena *scratch = arena_new();
    fputs("  arch {", out);
    for (int i = 0; i < arch_field_count(); i++)
        fprintf(out, "%s%s = %s", i ? ", " : "", arch_field_name(i), arch_field_format(scratch, arch, i));
    fputs("}\n", out);
    arena_free(scratch);
}

void ir_print(const Graph *g, FILE *out, const PrintOptions *options)
{
    fputs("xir 1\ngraph ", out);
    print_name(out, '@', g->name ? g->name : "main");
    fputs(" {\n", out);
    if (g->arch)
        print_arch(out, g->arch);
    for (int i = 0; i < g->n_inputs; i++) {
        fputs("  input ", out);
        print_name(out, '%', g->inputs[i]->name);
        fputs(" : ", out);
        print_type(out, &g->inputs[i]->type);
        putc('\n', out);
    }
    for (int i = 0; i < g->n_values; i++) {
        const Value *v = g->values[i];
        if (!v->is_input && !v->def)
            print_const(out, v, options);
    }
    for (int i = 0; i < g->n_ops; i++)
        print_op(out, g->ops[i]);
    for (int i = 0; i < g->n_outputs; i++) {
        fputs("  output ", out);
        print_name(out, '%', g->outputs[i]->name);
        putc('\n', out);
    }
    fputs("}\n", out);
}
