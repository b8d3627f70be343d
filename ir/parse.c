/* parse.c: .xir text back into a graph (the grammar is in ir.h).
 *
 *   file      := 'xir' INT 'graph' GLOBAL '{' statement* '}'
 *   statement := 'input' LOCAL ':' type
 *              | 'const' LOCAL ':' type '=' ( '[' numbers ']' | hex"..." )
 *              | LOCAL ':' type '=' OPNAME '(' [LOCAL {',' LOCAL}] ')'
 *                    [ '{' [attr {',' attr}] '}' ] [ 'loc' '(' STRING INDEX ')' ]
 *              | 'output' LOCAL
 *   type      := 'f32' '[' [INT {',' INT}] ']'
 *   attr      := (WORD | STRING) '=' ( number | STRING | '[' [number {',' number}] ']' )
 *
 * A hand-written lexer hands out one token at a time and a recursive-descent
 * parser builds the graph through the ir.h builder.  A statement is one line:
 * after an error the parser reports it at FILE:LINE:COL, skips the rest of that
 * line and goes on, so one run shows every undefined name.  A value whose
 * definition failed is remembered as broken, so that its uses stay quiet instead
 * of cascading.  Names are found through a hash table (ir_find_value() is a
 * linear scan).  hex"..." constants are decoded straight from the source into
 * the constant's buffer, without an intermediate string or strtof(). */
#include "ir.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum { MAX_ERRORS = 50, MAX_OPERANDS = 256, MAX_ATTRS = 64 };

typedef enum {
    T_EOF, T_WORD, T_LOCAL, T_GLOBAL, T_STRING, T_HEX, T_INDEX, T_PUNCT, T_ERROR
} TokKind;

typedef struct {
    TokKind kind;
    const char *start;      /* T_WORD, T_HEX: the raw characters */
    size_t len;
    const char *text;       /* T_LOCAL, T_GLOBAL, T_STRING: decoded, NUL-terminated */
    char punct;             /* T_PUNCT */
    int index;              /* T_INDEX */
    int line, col;
} Token;

/* A defined name; value == NULL marks a definition that failed. */
typedef struct {
    const char *name;
    Value *value;
    int line;
} Entry;

typedef struct {
    Arena *arena;
    Diags *diags;
    const char *path;
    const char *pos, *end, *line_start;
    int line;
    Token tok;
    int n_errors;
    Graph *g;
    Entry *names;           /* open addressing, cap a power of two */
    int cap_names, n_names;
    int section;            /* 0 inputs, 1 constants, 2 ops, 3 outputs */
} Parser;

static void error_at(Parser *p, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void error_at(Parser *p, int line, int col, const char *fmt, ...)
{
    if (p->n_errors > MAX_ERRORS)
        return;
    Loc loc = {.file = p->path, .line = line, .col = col};
    va_list ap;
    va_start(ap, fmt);
    if (++p->n_errors > MAX_ERRORS)
        diag_error(p->diags, &loc, "too many errors, giving up");
    else
        diag_verror(p->diags, &loc, fmt, ap);
    va_end(ap);
}

/* ---- lexer ---- */

static bool is_name_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '$' || c == '-';
}

/* Words are keywords, op names, attribute names and numbers ("1e+05"). */
static bool is_word_char(int c)
{
    return is_name_char(c) || c == '+';
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* Hex digit values plus one; 0 for anything that is not a hex digit. */
static const unsigned char hex_plus1[256] = {
    ['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6, ['6'] = 7, ['7'] = 8,
    ['8'] = 9, ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15,
    ['f'] = 16, ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

static int hex_value(int c)
{
    return c >= 0 && c < 256 ? hex_plus1[c] - 1 : -1;
}

static int peek_char(const Parser *p, size_t ahead)
{
    return (size_t)(p->end - p->pos) > ahead ? (unsigned char)p->pos[ahead] : -1;
}

static int column(const Parser *p, const char *at)
{
    return (int)(at - p->line_start) + 1;
}

/* Skips blanks, newlines and comments.  '#' followed by a digit (or '-' and a
 * digit) is a loc() index, not a comment. */
static void skip_space(Parser *p)
{
    while (p->pos < p->end) {
        int c = (unsigned char)*p->pos;
        if (c == '\n') {
            p->pos++;
            p->line++;
            p->line_start = p->pos;
        } else if (c == ' ' || c == '\t' || c == '\r') {
            p->pos++;
        } else if (c == '#' && !is_digit(peek_char(p, 1)) &&
                   !(peek_char(p, 1) == '-' && is_digit(peek_char(p, 2)))) {
            const char *nl = memchr(p->pos, '\n', (size_t)(p->end - p->pos));
            p->pos = nl ? nl : p->end;
        } else {
            return;
        }
    }
}

/* A "string" after its opening quote, with escapes \" \\ \n \t \xHH; it may not
 * span lines.  Returns NULL after reporting an error. */
static const char *lex_string(Parser *p, int line, int col)
{
    const char *s = p->pos;
    while (s < p->end && *s != '"' && *s != '\n')
        s += (*s == '\\' && s + 1 < p->end && s[1] != '\n') ? 2 : 1;
    if (s >= p->end || *s != '"') {
        error_at(p, line, col, "unterminated string");
        p->pos = s;
        return NULL;
    }
    char *out = arena_alloc(p->arena, (size_t)(s - p->pos) + 1), *o = out;
    bool ok = true;
    for (const char *q = p->pos; q < s; q++) {
        if (*q == 0 && ok) {
            error_at(p, line, column(p, q), "NUL byte in string");
            ok = false;
        }
        if (*q != '\\') {
            *o++ = *q;
            continue;
        }
        char e = *++q;
        if (e == '"' || e == '\\') {
            *o++ = e;
        } else if (e == 'n') {
            *o++ = '\n';
        } else if (e == 't') {
            *o++ = '\t';
        } else if (e == 'x' && q + 2 < s && hex_value(q[1]) >= 0 && hex_value(q[2]) >= 0) {
            int v = hex_value(q[1]) * 16 + hex_value(q[2]);
            if (v == 0 && ok) {
                error_at(p, line, column(p, q - 1), "\\x00 is not allowed in a string");
                ok = false;
            }
            *o++ = (char)v;
            q += 2;
        } else if (ok) {
            error_at(p, line, column(p, q - 1), "unknown escape '\\%c' in string", e);
            ok = false;
        }
    }
    *o = 0;
    p->pos = s + 1;
    return ok ? out : NULL;
}

static void next(Parser *p)
{
    skip_space(p);
    Token *t = &p->tok;
    memset(t, 0, sizeof *t);
    t->line = p->line;
    t->col = column(p, p->pos);
    t->start = p->pos;
    if (p->pos >= p->end) {
        t->kind = T_EOF;
        return;
    }
    int c = (unsigned char)*p->pos;
    if (c == '%' || c == '@') {
        t->kind = c == '%' ? T_LOCAL : T_GLOBAL;
        p->pos++;
        if (peek_char(p, 0) == '"') {
            p->pos++;
            t->text = lex_string(p, t->line, t->col);
            if (!t->text)
                t->kind = T_ERROR;
            return;
        }
        const char *s = p->pos;
        while (p->pos < p->end && is_name_char((unsigned char)*p->pos))
            p->pos++;
        if (p->pos == s) {
            error_at(p, t->line, t->col, "expected a name after '%c'", c);
            t->kind = T_ERROR;
            return;
        }
        char *text = arena_alloc(p->arena, (size_t)(p->pos - s) + 1);
        memcpy(text, s, (size_t)(p->pos - s));
        t->text = text;
    } else if (c == '"') {
        p->pos++;
        t->kind = T_STRING;
        t->text = lex_string(p, t->line, t->col);
        if (!t->text)
            t->kind = T_ERROR;
    } else if (c == '#') {
        p->pos++;
        const char *s = p->pos;
        if (peek_char(p, 0) == '-')
            p->pos++;
        long long v = 0;
        while (p->pos < p->end && is_digit((unsigned char)*p->pos) && v <= 1000000000)
            v = v * 10 + (*p->pos++ - '0');
        if (p->pos < p->end && is_word_char((unsigned char)*p->pos)) {
            while (p->pos < p->end && is_word_char((unsigned char)*p->pos))
                p->pos++;
            error_at(p, t->line, t->col, "malformed node index '#%.*s'", (int)(p->pos - s), s);
            t->kind = T_ERROR;
            return;
        }
        t->kind = T_INDEX;
        t->index = (int)(*s == '-' ? -v : v);
    } else if (strchr("{}()[],:=", c)) {
        t->kind = T_PUNCT;
        t->punct = (char)c;
        p->pos++;
    } else if (is_word_char(c)) {
        while (p->pos < p->end && is_word_char((unsigned char)*p->pos))
            p->pos++;
        t->kind = T_WORD;
        t->len = (size_t)(p->pos - t->start);
        if (t->len == 3 && memcmp(t->start, "hex", 3) == 0 && peek_char(p, 0) == '"') {
            /* hex"...": only digits inside, so find the quote without decoding. */
            const char *s = ++p->pos;
            const char *q = memchr(s, '"', (size_t)(p->end - s));
            const char *nl = memchr(s, '\n', (size_t)((q ? q : p->end) - s));
            if (!q || nl) {
                error_at(p, t->line, t->col, "unterminated hex string");
                t->kind = T_ERROR;
                p->pos = nl ? nl : p->end;
                return;
            }
            t->kind = T_HEX;
            t->start = s;
            t->len = (size_t)(q - s);
            p->pos = q + 1;
        }
    } else {
        if (c >= 0x20 && c < 0x7f)
            error_at(p, t->line, t->col, "unexpected character '%c'", c);
        else
            error_at(p, t->line, t->col, "unexpected byte 0x%02x", (unsigned)c);
        t->kind = T_ERROR;
        p->pos++;
    }
}

/* ---- token helpers ---- */

static bool at_word(const Parser *p, const char *word)
{
    return p->tok.kind == T_WORD && p->tok.len == strlen(word) &&
           memcmp(p->tok.start, word, p->tok.len) == 0;
}

static bool at_punct(const Parser *p, char c)
{
    return p->tok.kind == T_PUNCT && p->tok.punct == c;
}

/* What the current token is, for "expected X, found Y". */
static const char *describe(Parser *p)
{
    const Token *t = &p->tok;
    switch (t->kind) {
    case T_EOF: return "end of file";
    case T_WORD: return arena_printf(p->arena, "'%.*s'", (int)(t->len > 40 ? 40 : t->len), t->start);
    case T_LOCAL: return arena_printf(p->arena, "%%%s", ir_name_text(p->arena, t->text));
    case T_GLOBAL: return arena_printf(p->arena, "@%s", t->text);
    case T_STRING: return "a string";
    case T_HEX: return "a hex constant";
    case T_INDEX: return "a node index";
    case T_PUNCT: return arena_printf(p->arena, "'%c'", t->punct);
    case T_ERROR: break;
    }
    return "an invalid token";
}

/* Reports "expected WHAT" at the current token unless the lexer already did. */
static bool fail(Parser *p, const char *what)
{
    if (p->tok.kind != T_ERROR)
        error_at(p, p->tok.line, p->tok.col, "expected %s, found %s", what, describe(p));
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
    if (p->tok.kind != T_WORD || p->tok.len >= size)
        return false;
    memcpy(buf, p->tok.start, p->tok.len);
    buf[p->tok.len] = 0;
    return true;
}

static bool is_int_syntax(const char *s)
{
    if (*s == '-' || *s == '+')
        s++;
    if (!*s)
        return false;
    for (; *s; s++)
        if (!is_digit(*s))
            return false;
    return true;
}

/* [+-] then inf, nan, or digits with an optional fraction and exponent: what
 * the printer writes, and nothing strtof() would add (hex floats, "infinity"). */
static bool is_float_syntax(const char *s)
{
    if (*s == '-' || *s == '+')
        s++;
    if (strcmp(s, "inf") == 0 || strcmp(s, "nan") == 0)
        return true;
    int digits = 0;
    while (is_digit(*s))
        s++, digits++;
    if (*s == '.')
        for (s++; is_digit(*s); s++)
            digits++;
    if (!digits)
        return false;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '-' || *s == '+')
            s++;
        if (!is_digit(*s))
            return false;
        while (is_digit(*s))
            s++;
    }
    return *s == 0;
}

/* Reads the current token as an integer and advances. */
static bool parse_int(Parser *p, int64_t *out)
{
    char buf[64];
    if (p->tok.kind != T_WORD)
        return fail(p, "an integer");
    if (!word_text(p, buf, sizeof buf) || !is_int_syntax(buf)) {
        error_at(p, p->tok.line, p->tok.col, "malformed integer '%.*s'",
                 (int)(p->tok.len > 40 ? 40 : p->tok.len), p->tok.start);
        return false;
    }
    errno = 0;
    long long v = strtoll(buf, NULL, 10);
    if (errno == ERANGE) {
        error_at(p, p->tok.line, p->tok.col, "integer '%s' out of range", buf);
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
    if (p->tok.kind != T_WORD)
        return fail(p, "a number");
    bool ok = word_text(p, buf, sizeof buf);
    *was_int = ok && is_int_syntax(buf);
    if (!ok || (!*was_int && !is_float_syntax(buf))) {
        error_at(p, p->tok.line, p->tok.col, "malformed number '%.*s'",
                 (int)(p->tok.len > 40 ? 40 : p->tok.len), p->tok.start);
        return false;
    }
    if (*was_int) {
        errno = 0;
        *i = strtoll(buf, NULL, 10);
        if (errno == ERANGE) {
            error_at(p, p->tok.line, p->tok.col, "integer '%s' out of range", buf);
            return false;
        }
    }
    *f = strtof(buf, NULL);
    if (isinf(*f) && !strstr(buf, "inf")) {
        error_at(p, p->tok.line, p->tok.col, "number '%s' out of float32 range", buf);
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
    if (p->tok.kind != T_LOCAL)
        return fail(p, "a value name like %x");
    *name = p->tok.text;
    *col = p->tok.col;
    const Entry *e = find_name(p, *name);
    if (e) {
        error_at(p, p->tok.line, p->tok.col, "redefinition of value %%%s (first defined on line %d)",
                 ir_name_text(p->arena, *name), e->line);
        return false;
    }
    next(p);
    return true;
}

/* Reads a use of a value: *v is NULL when it is undefined (reported) or broken. */
static bool parse_use(Parser *p, Value **v)
{
    if (p->tok.kind != T_LOCAL)
        return fail(p, "a value name like %x");
    const Entry *e = find_name(p, p->tok.text);
    if (!e)
        error_at(p, p->tok.line, p->tok.col, "undefined value %%%s", ir_name_text(p->arena, p->tok.text));
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

/* type := 'f32' '[' [INT {',' INT}] ']' */
static bool parse_type(Parser *p, Type *type)
{
    if (!at_word(p, "f32"))
        return fail(p, "a type like f32[1,3]");
    next(p);
    if (!expect_punct(p, '['))
        return false;
    *type = (Type){.dtype = DT_F32};
    int64_t numel = 1;
    while (!at_punct(p, ']')) {
        if (type->rank && !expect_comma(p, ']'))
            return false;
        int line = p->tok.line, col = p->tok.col;
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
        numel = d == 0 || numel == 0 ? 0 : numel * d;
        if (numel > IR_MAX_NUMEL) {
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
    int line = p->tok.line, col = p->tok.col;
    next(p);
    const char *name;
    int name_col;
    Type type;
    if (!parse_new_name(p, &name, &name_col) || !expect_punct(p, ':') || !parse_type(p, &type))
        return false;
    enter_section(p, 0, line, col, "input");
    insert_name(p, name, ir_add_input(p->g, name, type), line);
    return true;
}

/* Decodes hex"..." (8 digits a float, little-endian bytes) into data: a table
 * lookup a digit, so that 200 MB of weights decode in well under a second. */
static bool decode_hex(Parser *p, const Token *t, float *data, int64_t n)
{
    const unsigned char *s = (const unsigned char *)t->start;
    for (int64_t i = 0; i < n; i++, s += 8) {
        int d[8], bad = 0;
        for (int k = 0; k < 8; k++) {
            d[k] = hex_plus1[s[k]] - 1;
            bad |= d[k];
        }
        if (bad < 0) {
            int k = 0;
            while (d[k] >= 0)
                k++;
            error_at(p, t->line, t->col + 4 + (int)(s + k - (const unsigned char *)t->start),
                     "invalid hex digit '%c' in constant", s[k] >= 0x20 && s[k] < 0x7f ? s[k] : '?');
            return false;
        }
        uint32_t bits = (uint32_t)(d[0] << 4 | d[1]) | (uint32_t)(d[2] << 4 | d[3]) << 8 |
                        (uint32_t)(d[4] << 4 | d[5]) << 16 | (uint32_t)(d[6] << 4 | d[7]) << 24;
        memcpy(&data[i], &bits, sizeof bits);
    }
    return true;
}

/* '[' [number {',' number}] ']': exactly n floats into *data.  The buffer
 * grows with what is there, so that a huge type over a short list costs
 * nothing before the count is found wrong. */
static bool parse_decimals(Parser *p, const char *name, const Type *type, float **data, int64_t n)
{
    int line = p->tok.line, col = p->tok.col;
    next(p);
    int64_t count = 0, cap = n < 64 ? n : 64;
    *data = arena_array(p->arena, (size_t)(cap ? cap : 1), sizeof(float));
    while (!at_punct(p, ']')) {
        if (count && !expect_comma(p, ']'))
            return false;
        float f;
        int64_t i;
        bool was_int;
        if (!parse_number(p, &f, &i, &was_int))
            return false;
        if (count == cap && cap < n) {
            cap = 2 * cap < n ? 2 * cap : n;
            float *bigger = arena_array(p->arena, (size_t)cap, sizeof(float));
            memcpy(bigger, *data, (size_t)count * sizeof(float));
            *data = bigger;
        }
        if (count < cap)
            (*data)[count] = f;
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
    int line = p->tok.line, col = p->tok.col;
    next(p);
    const char *name = NULL;
    int name_col;
    Type type;
    if (!parse_new_name(p, &name, &name_col) || !expect_punct(p, ':') || !parse_type(p, &type) ||
        !expect_punct(p, '='))
        goto broken;
    enter_section(p, 1, line, col, "constant");
    int64_t n = type_numel(&type);
    if (p->tok.kind == T_HEX) {
        if (p->tok.len != (size_t)n * 8) {
            error_at(p, p->tok.line, p->tok.col,
                     "hex constant %%%s has %zu digits, but its type %s needs %lld (8 a float)",
                     ir_name_text(p->arena, name), p->tok.len, type_format(p->arena, &type),
                     (long long)n * 8);
            goto broken;
        }
        Value *v = ir_add_const(p->g, name, type, NULL);
        insert_name(p, name, v, line);
        Token hex = p->tok;
        next(p);
        return decode_hex(p, &hex, v->data, n);
    }
    if (at_punct(p, '[')) {
        float *data;
        if (!parse_decimals(p, name, &type, &data, n))
            goto broken;
        insert_name(p, name, ir_add_const(p->g, name, type, data), line);
        return true;
    }
    if (at_word(p, "elided")) {
        error_at(p, p->tok.line, p->tok.col,
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
    int cap = 8;
    a->ints = arena_array(p->arena, (size_t)cap, sizeof(int64_t));
    a->floats = arena_array(p->arena, (size_t)cap, sizeof(float));
    bool any_float = false;
    while (!at_punct(p, ']')) {
        if (a->count && !expect_comma(p, ']'))
            return false;
        if (a->count == cap) {
            int64_t *ints = arena_array(p->arena, (size_t)cap * 2, sizeof(int64_t));
            float *floats = arena_array(p->arena, (size_t)cap * 2, sizeof(float));
            memcpy(ints, a->ints, (size_t)cap * sizeof(int64_t));
            memcpy(floats, a->floats, (size_t)cap * sizeof(float));
            a->ints = ints, a->floats = floats, cap *= 2;
        }
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
    a->line = p->tok.line;
    a->col = p->tok.col;
    if (p->tok.kind == T_STRING) {
        a->name = p->tok.text;
    } else if (p->tok.kind == T_WORD) {
        a->name = arena_printf(p->arena, "%.*s", (int)p->tok.len, p->tok.start);
    } else {
        return fail(p, "an attribute name");
    }
    next(p);
    if (!expect_punct(p, '='))
        return false;
    if (p->tok.kind == T_STRING) {
        a->kind = ATTR_STRING;
        a->s = p->tok.text;
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
            error_at(p, p->tok.line, p->tok.col, "more than %d attributes", MAX_ATTRS);
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
    if (p->tok.kind != T_STRING)
        return fail(p, "a node name string");
    loc->node = p->tok.text;
    next(p);
    if (p->tok.kind != T_INDEX)
        return fail(p, "a node index like #0");
    loc->node_index = p->tok.index;
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
    int line = p->tok.line;
    const char *name = NULL;
    int col = p->tok.col;
    Type type;
    OpKind kind = OP_COUNT;
    Value *operands[MAX_OPERANDS];
    int n_operands = 0;
    bool complete = true;   /* false: an operand or the op is unknown */
    ParsedAttr attrs[MAX_ATTRS];
    int n_attrs = 0;
    Loc loc = {.file = p->path, .line = line, .col = col};

    if (!parse_new_name(p, &name, &col) || !expect_punct(p, ':') || !parse_type(p, &type) ||
        !expect_punct(p, '='))
        goto broken;
    if (p->tok.kind != T_WORD) {
        fail(p, "an op name");
        goto broken;
    }
    char opname[32];
    if (!word_text(p, opname, sizeof opname) || !op_kind_from_name(opname, &kind)) {
        error_at(p, p->tok.line, p->tok.col, "unknown op '%.*s'",
                 (int)(p->tok.len > 40 ? 40 : p->tok.len), p->tok.start);
        complete = false;
    }
    next(p);
    if (!expect_punct(p, '('))
        goto broken;
    while (!at_punct(p, ')')) {
        if (n_operands && !expect_comma(p, ')'))
            goto broken;
        if (n_operands == MAX_OPERANDS) {
            error_at(p, p->tok.line, p->tok.col, "more than %d operands", MAX_OPERANDS);
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

/* 'output' LOCAL */
static bool parse_output(Parser *p)
{
    int line = p->tok.line, col = p->tok.col;
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
    int line = p->tok.line;
    bool ok;
    if (at_word(p, "input"))
        ok = parse_input(p);
    else if (at_word(p, "const"))
        ok = parse_const(p);
    else if (at_word(p, "output"))
        ok = parse_output(p);
    else if (p->tok.kind == T_LOCAL)
        ok = parse_op(p);
    else
        ok = fail(p, "'input', 'const', 'output', an op like %x = ..., or '}'");
    if (ok && p->tok.line == line && p->tok.kind != T_EOF && !at_punct(p, '}'))
        ok = fail(p, "end of line");
    while (!ok && p->tok.kind != T_EOF && p->tok.line == line)
        next(p);
}

/* file := 'xir' INT 'graph' GLOBAL '{' statement* '}' */
static Graph *parse_file(Parser *p)
{
    next(p);
    if (!at_word(p, "xir")) {
        error_at(p, p->tok.line, p->tok.col, "expected the header 'xir 1' at the start of the file");
        return NULL;
    }
    next(p);
    int line = p->tok.line, col = p->tok.col;
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
    if (p->tok.kind != T_GLOBAL) {
        fail(p, "a graph name like @main");
        return NULL;
    }
    p->g = ir_graph_new(p->arena, p->tok.text);
    next(p);
    if (!expect_punct(p, '{'))
        return NULL;
    while (!at_punct(p, '}') && p->tok.kind != T_EOF && p->n_errors <= MAX_ERRORS)
        parse_statement(p);
    if (p->n_errors > MAX_ERRORS)
        return NULL;
    if (!expect_punct(p, '}'))
        return NULL;
    if (p->tok.kind != T_EOF)
        fail(p, "end of file after the graph's '}'");
    return p->g;
}

Graph *ir_parse(Arena *arena, const char *path, const char *text, size_t length, Diags *diags)
{
    /* Ops keep the path in their locations, so it must live as long as the graph. */
    Parser p = {.arena = arena, .diags = diags, .path = arena_strdup(arena, path ? path : "<input>"),
                .pos = text, .end = text + length, .line_start = text, .line = 1};
    Graph *g = parse_file(&p);
    if (!g || p.n_errors)
        return NULL;
    return ir_verify(g, diags) ? g : NULL;
}

/* Reads a stream that cannot be mapped (a pipe) into the arena. */
static char *read_stream(Arena *arena, int fd, size_t *length)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = arena_alloc(arena, cap);
    for (;;) {
        if (n == cap) {
            char *bigger = arena_alloc(arena, cap * 2);
            memcpy(bigger, buf, n);
            buf = bigger, cap *= 2;
        }
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return NULL;
        if (got == 0)
            break;
        n += (size_t)got;
    }
    *length = n;
    return buf;
}

/* A regular file is mapped rather than copied: a ResNet's .xir is 200 MB of hex
 * that is only needed while it is decoded. */
Graph *ir_parse_file(Arena *arena, const char *path, Diags *diags)
{
    Loc loc = {.file = path};
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        diag_error(diags, &loc, "cannot open: %s", strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        diag_error(diags, &loc, "cannot read: %s", strerror(errno));
        close(fd);
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        diag_error(diags, &loc, "cannot read: is a directory");
        close(fd);
        return NULL;
    }
    Graph *g = NULL;
    if (S_ISREG(st.st_mode) && st.st_size > 0) {
        size_t length = (size_t)st.st_size;
        void *text = mmap(NULL, length, PROT_READ, MAP_PRIVATE, fd, 0);
        if (text != MAP_FAILED) {
            g = ir_parse(arena, path, text, length, diags);
            munmap(text, length);
            close(fd);
            return g;
        }
    }
    size_t length;
    char *text = read_stream(arena, fd, &length);
    if (text)
        g = ir_parse(arena, path, text, length, diags);
    else
        diag_error(diags, &loc, "cannot read: %s", strerror(errno));
    close(fd);
    return g;
}
