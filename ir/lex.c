/* lex.c: the tokens of the .xir text form (the grammar is in parse.c).
 *
 * Tokens: WORD (keywords, op and attribute names, numbers such as 1e+05:
 * [A-Za-z0-9_.$+-]+), LOCAL %name and GLOBAL @name (bare or %"quoted" with C
 * escapes), STRING "...", HEX hex"..." (its digits are left in the source and
 * decoded straight into a constant's buffer by lex_decode_hex), INDEX #N of a
 * loc(), and the punctuation {}()[],:=.  '#' not followed by a number starts a
 * comment to the end of the line.  A token never spans lines, which lets the
 * parser treat a line as a statement.  Errors go through lex_error(), which
 * the parser uses as well, so that one count covers the file. */
#include "lex.h"

#include <limits.h>
#include <string.h>

void lex_init(Lexer *lx, Arena *arena, Diags *diags, const char *path, const char *text, size_t length)
{
    *lx = (Lexer){.arena = arena, .diags = diags, .path = arena_strdup(arena, path ? path : "<input>"),
                  .pos = text, .end = text + length, .line_start = text, .line = 1};
}

void lex_verror(Lexer *lx, int line, int col, const char *fmt, va_list ap)
{
    if (lx->n_errors > LEX_MAX_ERRORS)
        return;
    Loc loc = {.file = lx->path, .line = line, .col = col};
    if (++lx->n_errors > LEX_MAX_ERRORS)
        diag_error(lx->diags, &loc, "too many errors, giving up");
    else
        diag_verror(lx->diags, &loc, fmt, ap);
}

void lex_error(Lexer *lx, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lex_verror(lx, line, col, fmt, ap);
    va_end(ap);
}

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

static int peek_char(const Lexer *lx, size_t ahead)
{
    return (size_t)(lx->end - lx->pos) > ahead ? (unsigned char)lx->pos[ahead] : -1;
}

static int column(const Lexer *lx, const char *at)
{
    return (int)(at - lx->line_start) + 1;
}

/* Skips blanks, newlines and comments.  '#' followed by a digit (or '-' and a
 * digit) is a loc() index, not a comment. */
static void skip_space(Lexer *lx)
{
    while (lx->pos < lx->end) {
        int c = (unsigned char)*lx->pos;
        if (c == '\n') {
            lx->pos++;
            lx->line++;
            lx->line_start = lx->pos;
        } else if (c == ' ' || c == '\t' || c == '\r') {
            lx->pos++;
        } else if (c == '#' && !is_digit(peek_char(lx, 1)) &&
                   !(peek_char(lx, 1) == '-' && is_digit(peek_char(lx, 2)))) {
            const char *nl = memchr(lx->pos, '\n', (size_t)(lx->end - lx->pos));
            lx->pos = nl ? nl : lx->end;
        } else {
            return;
        }
    }
}

/* A "string" after its opening quote, with escapes \" \\ \n \t \xHH; it may not
 * span lines.  Returns NULL after reporting an error. */
static const char *lex_string(Lexer *lx, int line, int col)
{
    const char *s = lx->pos;
    while (s < lx->end && *s != '"' && *s != '\n')
        s += (*s == '\\' && s + 1 < lx->end && s[1] != '\n') ? 2 : 1;
    if (s >= lx->end || *s != '"') {
        lex_error(lx, line, col, "unterminated string");
        lx->pos = s;
        return NULL;
    }
    char *out = arena_alloc(lx->arena, (size_t)(s - lx->pos) + 1), *o = out;
    bool ok = true;
    for (const char *q = lx->pos; q < s; q++) {
        if (*q == 0 && ok) {
            lex_error(lx, line, column(lx, q), "NUL byte in string");
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
                lex_error(lx, line, column(lx, q - 1), "\\x00 is not allowed in a string");
                ok = false;
            }
            *o++ = (char)v;
            q += 2;
        } else if (ok) {
            lex_error(lx, line, column(lx, q - 1), "unknown escape '\\%c' in string", e);
            ok = false;
        }
    }
    *o = 0;
    lx->pos = s + 1;
    return ok ? out : NULL;
}

void lex_next(Lexer *lx)
{
    skip_space(lx);
    Token *t = &lx->tok;
    memset(t, 0, sizeof *t);
    t->line = lx->line;
    t->col = column(lx, lx->pos);
    t->start = lx->pos;
    if (lx->pos >= lx->end) {
        t->kind = T_EOF;
        return;
    }
    int c = (unsigned char)*lx->pos;
    if (c == '%' || c == '@') {
        t->kind = c == '%' ? T_LOCAL : T_GLOBAL;
        lx->pos++;
        if (peek_char(lx, 0) == '"') {
            lx->pos++;
            t->text = lex_string(lx, t->line, t->col);
            if (!t->text)
                t->kind = T_ERROR;
            return;
        }
        const char *s = lx->pos;
        while (lx->pos < lx->end && is_name_char((unsigned char)*lx->pos))
            lx->pos++;
        if (lx->pos == s) {
            lex_error(lx, t->line, t->col, "expected a name after '%c'", c);
            t->kind = T_ERROR;
            return;
        }
        char *text = arena_alloc(lx->arena, (size_t)(lx->pos - s) + 1);
        memcpy(text, s, (size_t)(lx->pos - s));
        t->text = text;
    } else if (c == '"') {
        lx->pos++;
        t->kind = T_STRING;
        t->text = lex_string(lx, t->line, t->col);
        if (!t->text)
            t->kind = T_ERROR;
    } else if (c == '#') {
        lx->pos++;
        const char *s = lx->pos;
        if (peek_char(lx, 0) == '-')
            lx->pos++;
        long long v = 0;
        while (lx->pos < lx->end && is_digit((unsigned char)*lx->pos) && v <= 1000000000)
            v = v * 10 + (*lx->pos++ - '0');
        if ((lx->pos < lx->end && is_word_char((unsigned char)*lx->pos)) || v > INT_MAX) {   /* an int's worth */
            while (lx->pos < lx->end && is_word_char((unsigned char)*lx->pos))
                lx->pos++;
            lex_error(lx, t->line, t->col, "malformed node index '#%.*s'", (int)(lx->pos - s), s);
            t->kind = T_ERROR;
            return;
        }
        t->kind = T_INDEX;
        t->index = (int)(*s == '-' ? -v : v);
    } else if (strchr("{}()[],:=", c)) {
        t->kind = T_PUNCT;
        t->punct = (char)c;
        lx->pos++;
    } else if (is_word_char(c)) {
        while (lx->pos < lx->end && is_word_char((unsigned char)*lx->pos))
            lx->pos++;
        t->kind = T_WORD;
        t->len = (size_t)(lx->pos - t->start);
        if (t->len == 3 && memcmp(t->start, "hex", 3) == 0 && peek_char(lx, 0) == '"') {
            /* hex"...": only digits inside, so find the quote without decoding. */
            const char *s = ++lx->pos;
            const char *q = memchr(s, '"', (size_t)(lx->end - s));
            const char *nl = memchr(s, '\n', (size_t)((q ? q : lx->end) - s));
            if (!q || nl) {
                lex_error(lx, t->line, t->col, "unterminated hex string");
                t->kind = T_ERROR;
                lx->pos = nl ? nl : lx->end;
                return;
            }
            t->kind = T_HEX;
            t->start = s;
            t->len = (size_t)(q - s);
            lx->pos = q + 1;
        }
    } else {
        if (c >= 0x20 && c < 0x7f)
            lex_error(lx, t->line, t->col, "unexpected character '%c'", c);
        else
            lex_error(lx, t->line, t->col, "unexpected byte 0x%02x", (unsigned)c);
        t->kind = T_ERROR;
        lx->pos++;
    }
}

/* What the current token is, for "expected X, found Y". */
const char *lex_describe(Lexer *lx)
{
    const Token *t = &lx->tok;
    switch (t->kind) {
    case T_EOF: return "end of file";
    case T_WORD: return arena_printf(lx->arena, "'%.*s'", (int)(t->len > 40 ? 40 : t->len), t->start);
    case T_LOCAL: return arena_printf(lx->arena, "%%%s", ir_name_text(lx->arena, t->text));
    case T_GLOBAL: return arena_printf(lx->arena, "@%s", t->text);
    case T_STRING: return "a string";
    case T_HEX: return "a hex constant";
    case T_INDEX: return "a node index";
    case T_PUNCT: return arena_printf(lx->arena, "'%c'", t->punct);
    case T_ERROR: break;
    }
    return "an invalid token";
}

/* ---- numbers ---- */

bool lex_is_int(const char *s)
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
bool lex_is_float(const char *s)
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

/* Decodes hex"..." (8 digits a float, little-endian bytes) into data: a table
 * lookup a digit, so that 200 MB of weights decode in well under a second. */
bool lex_decode_hex(Lexer *lx, const Token *t, float *data, int64_t n)
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
            lex_error(lx, t->line, t->col + 4 + (int)(s + k - (const unsigned char *)t->start),
                      "invalid hex digit '%c' in constant", s[k] >= 0x20 && s[k] < 0x7f ? s[k] : '?');
            return false;
        }
        uint32_t bits = (uint32_t)(d[0] << 4 | d[1]) | (uint32_t)(d[2] << 4 | d[3]) << 8 |
                        (uint32_t)(d[4] << 4 | d[5]) << 16 | (uint32_t)(d[6] << 4 | d[7]) << 24;
        memcpy(&data[i], &bits, sizeof bits);
    }
    return true;
}
