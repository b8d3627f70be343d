/* parse.c: .xir text back into a graph (the grammar is in ir.h).
 *
 *   file      := 'xir' INT 'graph' GLOBAL '{' [arch] statement* '}'
 *   arch      := 'arch' '{' WORD '=' (number | STRING) {',' WORD '=' ...} '}'
 *   statement := 'input' LOCAL ':' type
 *              | 'const' LOCAL ':' type '=' ( '[' numbers ']' | hex"..." )
 *              | LOCAL ':' type '=' OPNAME '(' [LOCAL {',' LOCAL}] ')'
 *                    [ '{' [attr {',' attr}] '}' ] [ 'loc' '(' STRING INDEX ')' ]
 *              | 'output' LOCAL
 *   type      := DTYPE '[' [INT {',' INT}] ']'          (DTYPE: f32, i64, bool, ...)
 *   attr      := (WORD | STRING) '=' ( number | STRING | '[' [number {',' number}] ']' )
 *
 * The lexer (lex.c) hands out one token at a time and a recursive-descent
 * parser builds the graph through the ir.h builder.  A statement is one line:
 * after an error the parser reports it at FILE:LINE:COL, skips the rest of that
 * line and goes on, so one run shows every undefined name.  A value whose
 * definition failed is remembered as broken, so that its uses stay quiet instead
 * of cascading.  Names are found through a hash table (ir_find_value() is a
 * linear scan).  hex"..." constants are decoded straight from the source into
 * the constant's buffer (lex_decode_hex), without an intermediate string or
 * strtof(). */
#include "lex.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_OPERANDS = 256, MAX_ATTRS = 64 };

/* A defined name; value == NULL marks a definition that failed. */
typedef struct {
    const char *name;
    Value *value;
    int line;
} Entry;

typedef struct {
    Lexer lx;               /* the source, its current token and its error count */
    Arena *arena;
    Graph *g;
    Entry *names;           /* open addressing, cap a power of two */
    int cap_names, n_names;
    int section;            /* 0 inputs, 1 constants, 2 ops, 3 outputs */
} Parser;

static void error_at(Parser *p, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void error_at(Parser *p, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lex_verror(&p->lx, line, col, fmt, ap);
    va_end(ap);
}

static void next(Parser *p)
{
    lex_next(&p->lx);
}

/* ---- token helpers ---- */

static bool at_word(const Parser *p, const char *word)
{
    return p->lx.tok.kind == T_WORD && p->lx.tok.len == strlen(word) &&
           memcmp(p->lx.tok.start, word, p->lx.tok.len) == 0;
}

static bool at_punct(const Parser *p, char c)
{
    return p->lx.tok.kind == T_PUNCT && p->lx.tok.punct == c;
}

/* Reports "expected WHAT" at the current token unless the lexer already did. */
static bool fail(Parser *p, const char *what)
{
    if (p->lx.tok.kind != T_ERROR)
        error_at(p, p->lx.tok.line, p->lx.tok.col, "expected %s, found %s", what, lex_describe(&p->lx));
    return false;
}

static bool expect_punct(Parser *p, char c)
{
    if (!at_punct(p, c)) {
        char what[8];
        snprintf(what, sizeof what, "'%c'", c);
        return fail(p, what);
    }
    next(p);
    return true;
}

/* The ',' between list elements; anything but it or the list's closer is an error. */
static bool expect_comma(Parser *p, char close)
{
    if (at_punct(p, ',')) {
        next(p);
        return true;
    }
    char what[16];
    snprintf(what, sizeof what, "',' or '%c'", close);
    return fail(p, what);
}

/* The current word, NUL-terminated, in buf; false if it is too long. */
static bool word_text(const Parser *p, char *buf, size_t size)
{
    if (p->lx.tok.kind != T_WORD || p->lx.tok.len >= size)
        return false;
    memcpy(buf, p->lx.tok.start, p->lx.tok.len);
    buf[p->lx.tok.len] = 0;
    return true;
}

/* Reads the current token as an integer and advances. */
static bool parse_int(Parser *p, int64_t *out)
{
    char buf[64];
    if (p->lx.tok.kind != T_WORD)
        return fail(p, "an integer");
    if (!word_text(p, buf, sizeof buf) || !lex_is_int(buf)) {
        error_at(p, p->lx.tok.line, p->lx.tok.col, "malformed integer '%.*s'",
                 (int)(p->lx.tok.len > 40 ? 40 : p->lx.tok.len), p->lx.tok.start);
        return false;
    }
    errno = 0;
    long long v = strtoll(buf, NULL, 10);
    if (errno == ERANGE) {
        error_at(p, p->lx.tok.line, p->lx.tok.col, "integer '%s' out of range", buf);
        return false;
    }
    *out = v;
    next(p);
    return true;
}

/* Reads the current token as a float (an int literal is fine too) and
 * advances; *was_int tells whether it was written as an int. */
static bool parse_number(Parser *p, float *f, int64_t *i, bool *was_int)
{
    char buf[64];
    if (p->lx.tok.kind != T_WORD)
        return fail(p, "a number");
    bool ok = word_text(p, buf, sizeof buf);
    *was_int = ok && lex_is_int(buf);
    if (!ok || (!*was_int && !lex_is_float(buf))) {
        error_at(p, p->lx.tok.line, p->lx.tok.col, "malformed number '%.*s'",
                 (int)(p->lx.tok.len > 40 ? 40 : p->lx.tok.len), p->lx.tok.start);
        return false;
    }
    if (*was_int) {
        errno = 0;
        *i = strtoll(buf, NULL, 10);
        if (errno == ERANGE) {
            error_at(p, p->lx.tok.line, p->lx.tok.col, "integer '%s' out of range", buf);
            return false;
        }
    }
    *f = strtof(buf, NULL);
    if (isinf(*f) && !strstr(buf, "inf")) {
        error_at(p, p->lx.tok.line, p->lx.tok.col, "number '%s' out of float32 range", buf);
        return false;
    }
    next(p);
    return true;
}

/* ---- names ---- */

static uint32_t hash_name(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static Entry *find_name(const Parser *p, const char *name)
{
    if (!p->cap_names)
        return NULL;
    uint32_t mask = (uint32_t)(p->cap_names - 1);
    for (uint32_t i = hash_name(name) & mask;; i = (i + 1) & mask) {
        Entry *e = &p->names[i];
        if (!e->name)
            return NULL;
        if (strcmp(e->name, name) == 0)
            return e;
    }
}

static void insert_name(Parser *p, const char *name, Value *value, int line)
{
    if (2 * (p->n_names + 1) > p->cap_names) {
        Entry *old = p->names;
        int old_cap = p->cap_names;
        p->cap_names = old_cap ? 2 * old_cap : 256;
        p->names = arena_array(p->arena, (size_t)p->cap_names, sizeof(Entry));
        p->n_names = 0;
        for (int i = 0; i < old_cap; i++)
            if (old[i].name)
                insert_name(p, old[i].name, old[i].value, old[i].line);
    }
    uint32_t i = hash_name(name) & (uint32_t)(p->cap_names - 1);
    while (p->names[i].name)
        i = (i + 1) & (uint32_t)(p->cap_names - 1);
    p->names[i] = (Entry){name, value, line};
    p->n_names++;
}

/* Reads a value name being defined; false (reported) if it is taken. */
static bool parse_new_name(Parser *p, const char **name, int *col)
{
    if (p->lx.tok.kind != T_LOCAL)
        return fail(p, "a value name like %x");
    *name = p->lx.tok.text;
    *col = p->lx.tok.col;
    const Entry *e = find_name(p, *name);
    if (e) {
        error_at(p, p->lx.tok.line, p->lx.tok.col, "redefinition of value %%%s (first defined on line %d)",
                 ir_name_text(p->arena, *name), e->line);
        return false;
    }
    next(p);
    return true;
}

/* Reads a use of a value: *v is NULL when it is undefined (reported) or broken. */
static bool parse_use(Parser *p, Value **v)
{
    if (p->lx.tok.kind != T_LOCAL)
        return fail(p, "a value name like %x");
    const Entry *e = find_name(p, p->lx.tok.text);
    if (!e)
        error_at(p, p->lx.tok.line, p->lx.tok.col, "undefined value %%%s",
                 ir_name_text(p->arena, p->lx.tok.text));
    *v = e ? e->value : NULL;
    next(p);
    return true;
}

/* Keeps the order inputs, constants, ops, outputs. */
static void enter_section(Parser *p, int section, int line, int col, const char *what)
{
    static const char *const names[] = {"inputs", "constants", "ops", "outputs"};
    if (section < p->section)
        error_at(p, line, col, "%s after %s: lines must come in the order inputs, constants, ops, outputs",
                 what, names[p->section & 3]);
    else
        p->section = section;
}

/* ---- statements ---- */

/* type := DTYPE '[' [INT {',' INT}] ']' */
static bool parse_type(Parser *p, Type *type)
{
    DType dtype = DT_F32;
    char word[8] = "";
    if (p->lx.tok.kind == T_WORD && p->lx.tok.len < sizeof word)
        memcpy(word, p->lx.tok.start, p->lx.tok.len);
    if (!dtype_from_name(word, &dtype))
        return fail(p, "a type like f32[1,3] or i64[2]");
    next(p);
    if (!expect_punct(p, '['))
        return false;
    *type = (Type){.dtype = dtype};
    int64_t numel = 1;
    while (!at_punct(p, ']')) {
        if (type->rank && !expect_comma(p, ']'))
            return false;
        int line = p->lx.tok.line, col = p->lx.tok.col;
        int64_t d;
        if (!parse_int(p, &d))
            return false;
        if (d < 0 || d > IR_MAX_NUMEL) {
            error_at(p, line, col, "dimension %lld out of range", (long long)d);
            return false;
        }
        if (type->rank == IR_MAX_RANK) {
            error_at(p, line, col, "type has more than %d dimensions", IR_MAX_RANK);
            return false;
        }
        type->dims[type->rank++] = d;
        /* zeros count as ones: f32[0,2^32,2^32] would overflow a flatten */
        if (!i64_mul(numel, d ? d : 1, &numel) || numel > IR_MAX_NUMEL) {
            error_at(p, line, col, "type has more than 2^32 elements");
            return false;
        }
    }
    next(p);
    return true;
}

/* 'input' LOCAL ':' type */
static bool parse_input(Parser *p)
{
    int line = p->lx.tok.line, col = p->lx.tok.col;
    next(p);
    const char *name = NULL;
    int name_col;
    Type type;
    if (!parse_new_name(p, &name, &name_col) || !expect_punct(p, ':') || !parse_type(p, &type)) {
        if (name && !find_name(p, name))
            insert_name(p, name, NULL, line);     /* broken: its uses stay quiet */
        return false;
    }
    enter_section(p, 0, line, col, "input");
    insert_name(p, name, ir_add_input(p->g, name, type), line);
    return true;
}

/* '[' [number {',' number}] ']': exactly n floats into *data.  The buffer
 * grows with what is there, so that a huge type over a short list costs
 * nothing before the count is found wrong. */
static bool parse_decimals(Parser *p, const char *name, const Type *type, float **data, int64_t n)
{
    int line = p->lx.tok.line, col = p->lx.tok.col;
    next(p);
    int64_t count = 0, cap = 0;
    *data = NULL;
    ARENA_GROW(p->arena, *data, 0, cap);                /* an empty constant has data too */
    while (!at_punct(p, ']')) {
        if (count && !expect_comma(p, ']'))
            return false;
        float f;
        int64_t i;
        bool was_int;
        if (!parse_number(p, &f, &i, &was_int))
            return false;
        if (count < n) {    /* past n the count is wrong: count, keep nothing */
            ARENA_GROW(p->arena, *data, count, cap);
            (*data)[count] = f;
        }
        count++;
    }
    next(p);
    if (count != n) {
        error_at(p, line, col, "constant %%%s has %lld elements, but its type %s has %lld",
                 ir_name_text(p->arena, name), (long long)count, type_format(p->arena, type),
                 (long long)n);
        return false;
    }
    return true;
}

/* 'const' LOCAL ':' type '=' ( '[' numbers ']' | hex"..." ) */
static bool parse_const(Parser *p)
{
    int line = p->lx.tok.line, col = p->lx.tok.col;
    next(p);
    const char *name = NULL;
    int name_col;
    Type type;
    if (!parse_new_name(p, &name, &name_col) || !expect_punct(p, ':') || !parse_type(p, &type) ||
        !expect_punct(p, '='))
        goto broken;
    enter_section(p, 1, line, col, "constant");
    int64_t n = type_numel(&type);
    if (p->lx.tok.kind == T_HEX) {
        if (p->lx.tok.len != (size_t)n * 8) {
            error_at(p, p->lx.tok.line, p->lx.tok.col,
                     "hex constant %%%s has %zu digits, but its type %s needs %lld (8 a float)",
                     ir_name_text(p->arena, name), p->lx.tok.len, type_format(p->arena, &type),
                     (long long)n * 8);
            goto broken;
        }
        Value *v = ir_add_const(p->g, name, type, NULL);
        insert_name(p, name, v, line);
        Token hex = p->lx.tok;
        next(p);
        return lex_decode_hex(&p->lx, &hex, v->data, n);
    }
    if (at_punct(p, '[')) {
        float *data;
        if (!parse_decimals(p, name, &type, &data, n))
            goto broken;
        insert_name(p, name, ir_add_const(p->g, name, type, data), line);
        return true;
    }
    if (at_word(p, "elided")) {
        error_at(p, p->lx.tok.line, p->lx.tok.col,
                 "constant %%%s is elided: this text was printed for reading and cannot be parsed",
                 ir_name_text(p->arena, name));
        next(p);
        goto broken;
    }
    fail(p, "'[' or hex\"...\" after '='");
broken:
    if (name && !find_name(p, name))
        insert_name(p, name, NULL, line);
    return false;
}

typedef struct {
    const char *name;
    int line, col;
    AttrKind kind;
    int64_t i;
    float f;
    int count;
    int64_t *ints;
    float *floats;
    const char *s;
} ParsedAttr;

/* '[' [number {',' number}] ']': ints unless some element is written as a float. */
static bool parse_list(Parser *p, ParsedAttr *a)
{
    next(p);
    int cap_ints = 0, cap_floats = 0;
    a->ints = NULL, a->floats = NULL;
    ARENA_GROW(p->arena, a->ints, 0, cap_ints);         /* an empty list has arrays too */
    ARENA_GROW(p->arena, a->floats, 0, cap_floats);
    bool any_float = false;
    while (!at_punct(p, ']')) {
        if (a->count && !expect_comma(p, ']'))
            return false;
        ARENA_GROW(p->arena, a->ints, a->count, cap_ints);
        ARENA_GROW(p->arena, a->floats, a->count, cap_floats);
        bool was_int;
        if (!parse_number(p, &a->floats[a->count], &a->ints[a->count], &was_int))
            return false;
        any_float |= !was_int;
        a->count++;
    }
    next(p);
    a->kind = any_float ? ATTR_FLOATS : ATTR_INTS;
    return true;
}

/* attr := (WORD | STRING) '=' ( number | STRING | list ) */
static bool parse_attr(Parser *p, ParsedAttr *a)
{
    memset(a, 0, sizeof *a);
    a->line = p->lx.tok.line;
    a->col = p->lx.tok.col;
    if (p->lx.tok.kind == T_STRING) {
        a->name = p->lx.tok.text;
    } else if (p->lx.tok.kind == T_WORD) {
        a->name = arena_printf(p->arena, "%.*s", (int)p->lx.tok.len, p->lx.tok.start);
    } else {
        return fail(p, "an attribute name");
    }
    next(p);
    if (!expect_punct(p, '='))
        return false;
    if (p->lx.tok.kind == T_STRING) {
        a->kind = ATTR_STRING;
        a->s = p->lx.tok.text;
        next(p);
        return true;
    }
    if (at_punct(p, '['))
        return parse_list(p, a);
    bool was_int;
    if (!parse_number(p, &a->f, &a->i, &was_int))
        return false;
    a->kind = was_int ? ATTR_INT : ATTR_FLOAT;
    return true;
}

/* '{' [attr {',' attr}] '}' */
static bool parse_attrs(Parser *p, ParsedAttr *attrs, int *n)
{
    next(p);
    while (!at_punct(p, '}')) {
        if (*n && !expect_comma(p, '}'))
            return false;
        if (*n == MAX_ATTRS) {
            error_at(p, p->lx.tok.line, p->lx.tok.col, "more than %d attributes", MAX_ATTRS);
            return false;
        }
        ParsedAttr *a = &attrs[*n];
        if (!parse_attr(p, a))
            return false;
        for (int i = 0; i < *n; i++) {
            if (strcmp(attrs[i].name, a->name) == 0) {
                error_at(p, a->line, a->col, "duplicate attribute '%s'", a->name);
                return false;
            }
        }
        (*n)++;
    }
    next(p);
    return true;
}

/* 'loc' '(' STRING INDEX ')' */
static bool parse_loc(Parser *p, Loc *loc)
{
    next(p);
    if (!expect_punct(p, '('))
        return false;
    if (p->lx.tok.kind != T_STRING)
        return fail(p, "a node name string");
    loc->node = p->lx.tok.text;
    next(p);
    if (p->lx.tok.kind != T_INDEX)
        return fail(p, "a node index like #0");
    loc->node_index = p->lx.tok.index;
    next(p);
    return expect_punct(p, ')');
}

static void set_attr(Graph *g, Op *op, const ParsedAttr *a)
{
    switch (a->kind) {
    case ATTR_INT: ir_set_int(g, op, a->name, a->i); break;
    case ATTR_FLOAT: ir_set_float(g, op, a->name, a->f); break;
    case ATTR_INTS: ir_set_ints(g, op, a->name, a->ints, a->count); break;
    case ATTR_FLOATS: ir_set_floats(g, op, a->name, a->floats, a->count); break;
    case ATTR_STRING: ir_set_string(g, op, a->name, a->s); break;
    }
}

/* LOCAL ':' type '=' OPNAME '(' operands ')' [attrs] [loc] */
static bool parse_op(Parser *p)
{
    int line = p->lx.tok.line;
    const char *name = NULL;
    int col = p->lx.tok.col;
    Type type;
    OpKind kind = OP_COUNT;
    Value *operands[MAX_OPERANDS];
    int n_operands = 0;
    bool complete = true;   /* false: an operand or the op is unknown */
    ParsedAttr attrs[MAX_ATTRS];
    int n_attrs = 0;
    Loc loc = {.file = p->lx.path, .line = line, .col = col};

    if (!parse_new_name(p, &name, &col) || !expect_punct(p, ':') || !parse_type(p, &type) ||
        !expect_punct(p, '='))
        goto broken;
    if (p->lx.tok.kind != T_WORD) {
        fail(p, "an op name");
        goto broken;
    }
    char opname[32];
    if (!word_text(p, opname, sizeof opname) || !op_kind_from_name(opname, &kind)) {
        error_at(p, p->lx.tok.line, p->lx.tok.col, "unknown op '%.*s'",
                 (int)(p->lx.tok.len > 40 ? 40 : p->lx.tok.len), p->lx.tok.start);
        complete = false;
    }
    next(p);
    if (!expect_punct(p, '('))
        goto broken;
    while (!at_punct(p, ')')) {
        if (n_operands && !expect_comma(p, ')'))
            goto broken;
        if (n_operands == MAX_OPERANDS) {
            error_at(p, p->lx.tok.line, p->lx.tok.col, "more than %d operands", MAX_OPERANDS);
            goto broken;
        }
        if (!parse_use(p, &operands[n_operands]))
            goto broken;
        complete &= operands[n_operands++] != NULL;
    }
    next(p);
    if (at_punct(p, '{') && !parse_attrs(p, attrs, &n_attrs))
        goto broken;
    if (at_word(p, "loc") && !parse_loc(p, &loc))
        goto broken;
    enter_section(p, 2, line, col, "op");
    if (!complete)
        goto broken;
    Op *op = ir_add_op(p->g, kind, operands, n_operands, name, type, loc);
    for (int i = 0; i < n_attrs; i++)
        set_attr(p->g, op, &attrs[i]);
    insert_name(p, name, op->result, line);
    return true;
broken:
    if (name && !find_name(p, name))
        insert_name(p, name, NULL, line);
    return false;
}

/* 'arch' '{' WORD '=' (number | STRING) {',' ...} '}': every field of the
 * architecture once, first in the graph.  Values are read from their text here
 * (not through parse_number) so that a double such as g_min_us keeps its bits. */
static bool parse_arch(Parser *p)
{
    int line = p->lx.tok.line, col = p->lx.tok.col;
    if (p->g->arch || p->g->n_values > 0) {
        error_at(p, line, col, "the arch line must come first, right after 'graph @NAME {'");
        return false;
    }
    next(p);
    if (!expect_punct(p, '{'))
        return false;
    Arch arch = arch_default();
    bool seen[64] = {false};
    for (int n = 0; !at_punct(p, '}'); n++) {
        if (n && !expect_comma(p, '}'))
            return false;
        char name[64], text[64];
        int name_line = p->lx.tok.line, name_col = p->lx.tok.col;
        if (p->lx.tok.kind != T_WORD || !word_text(p, name, sizeof name))
            return fail(p, "an architecture field name");
        int field = arch_field_find(name);
        if (field >= arch_field_count()) {
            /* Device non-idealities belong to a run (--set), not to the IR. */
            error_at(p, name_line, name_col, "'%s' is a run-time (noise) field, not part of the arch line", name);
            return false;
        }
        if (field < 0 || field >= 64) {
            error_at(p, name_line, name_col, "unknown architecture field '%s'", name);
            return false;
        }
        if (seen[field]) {
            error_at(p, name_line, name_col, "architecture field '%s' appears twice", name);
            return false;
        }
        seen[field] = true;
        next(p);
        if (!expect_punct(p, '='))
            return false;
        const char *why;
        if (p->lx.tok.kind == T_STRING)
            why = arch_field_parse(&arch, field, p->lx.tok.text, true);
        else if (p->lx.tok.kind == T_WORD)
            why = word_text(p, text, sizeof text) ? arch_field_parse(&arch, field, text, false)
                                                  : "must be a number";
        else
            return fail(p, "a number or a string");
        if (why) {
            error_at(p, p->lx.tok.line, p->lx.tok.col, "architecture field '%s' %s", name, why);
            return false;
        }
        next(p);
    }
    next(p);
    bool complete = true;
    for (int i = 0; i < arch_field_count(); i++) {
        if (!seen[i]) {
            error_at(p, line, col, "the arch line has no field '%s'", arch_field_name(i));
            complete = false;
        }
    }
    Loc loc = {.file = p->lx.path, .line = line, .col = col};
    if (!complete)
        return false;
    if (!arch_validate_at(&arch, &loc, p->lx.diags)) {
        p->lx.n_errors++;
        return false;
    }
    p->g->arch = arena_alloc(p->arena, sizeof *p->g->arch);
    *p->g->arch = arch;
    return true;
}

/* 'output' LOCAL */
static bool parse_output(Parser *p)
{
    int line = p->lx.tok.line, col = p->lx.tok.col;
    next(p);
    Value *v;
    if (!parse_use(p, &v))
        return false;
    enter_section(p, 3, line, col, "output");
    if (v)
        ir_add_output(p->g, v);
    return true;
}

/* One statement; after an error, the rest of its line is skipped.  A statement
 * also ends its line (only the closing '}' may follow it). */
static void parse_statement(Parser *p)
{
    int line = p->lx.tok.line;
    bool ok;
    if (at_word(p, "input"))
        ok = parse_input(p);
    else if (at_word(p, "const"))
        ok = parse_const(p);
    else if (at_word(p, "output"))
        ok = parse_output(p);
    else if (at_word(p, "arch"))
        ok = parse_arch(p);
    else if (p->lx.tok.kind == T_LOCAL)
        ok = parse_op(p);
    else
        ok = fail(p, "'input', 'const', 'output', an op like %x = ..., or '}'");
    if (ok && p->lx.tok.line == line && p->lx.tok.kind != T_EOF && !at_punct(p, '}'))
        ok = fail(p, "end of line");
    while (!ok && p->lx.tok.kind != T_EOF && p->lx.tok.line == line)
        next(p);
}

/* file := 'xir' INT 'graph' GLOBAL '{' statement* '}' */
static Graph *parse_file(Parser *p)
{
    next(p);
    if (!at_word(p, "xir")) {
        error_at(p, p->lx.tok.line, p->lx.tok.col, "expected the header 'xir 1' at the start of the file");
        return NULL;
    }
    next(p);
    int line = p->lx.tok.line, col = p->lx.tok.col;
    int64_t version;
    if (!parse_int(p, &version))
        return NULL;
    if (version != 1) {
        error_at(p, line, col, "unsupported xir version %lld (this xbarc reads version 1)",
                 (long long)version);
        return NULL;
    }
    if (!at_word(p, "graph")) {
        fail(p, "'graph'");
        return NULL;
    }
    next(p);
    if (p->lx.tok.kind != T_GLOBAL) {
        fail(p, "a graph name like @main");
        return NULL;
    }
    p->g = ir_graph_new(p->arena, p->lx.tok.text);
    next(p);
    if (!expect_punct(p, '{'))
        return NULL;
    while (!at_punct(p, '}') && p->lx.tok.kind != T_EOF && p->lx.n_errors <= LEX_MAX_ERRORS)
        parse_statement(p);
    if (p->lx.n_errors > LEX_MAX_ERRORS)
        return NULL;
    if (at_punct(p, '}') && p->g->n_outputs == 0 && p->lx.n_errors == 0)
        error_at(p, p->lx.tok.line, p->lx.tok.col, "graph @%s has no outputs (a line 'output %%NAME' is missing)",
                 ir_name_text(p->arena, p->g->name));
    if (!expect_punct(p, '}'))
        return NULL;
    if (p->lx.tok.kind != T_EOF)
        fail(p, "end of file after the graph's '}'");
    return p->g;
}

Graph *ir_parse(Arena *arena, const char *path, const char *text, size_t length, Diags *diags)
{
    /* Ops keep the path in their locations: lex_init copies it into the arena. */
    Parser p = {.arena = arena};
    lex_init(&p.lx, arena, diags, path, text, length);
    Graph *g = parse_file(&p);
    if (!g || p.lx.n_errors)
        return NULL;
    return ir_verify(g, diags) ? g : NULL;
}

/* A regular file is mapped rather than copied (file_read): a ResNet's .xir is
 * 200 MB of hex that is only needed while it is decoded. */
Graph *ir_parse_file(Arena *arena, const char *path, Diags *diags)
{
    FileBytes bytes;
    if (!file_read(path, 0, NULL, diags, &bytes))
        return NULL;
    Graph *g = ir_parse(arena, path, (const char *)bytes.data, bytes.size, diags);
    file_release(&bytes);
    return g;
}
