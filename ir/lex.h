/* lex.h: private to ir/, the tokens of the .xir text form (ir/lex.c) that
 * the parser (ir/parse.c) reads one at a time.
 *
 * The lexer also keeps the file's error count: lexical and syntax errors are
 * reported through lex_error() alike, at FILE:LINE:COL, and the count stops
 * at LEX_MAX_ERRORS with a "too many errors" line. */
#ifndef XBARC_IR_LEX_H
#define XBARC_IR_LEX_H

#include "ir.h"

enum { LEX_MAX_ERRORS = 50 };

typedef enum {
    T_EOF, T_WORD, T_LOCAL, T_GLOBAL, T_STRING, T_HEX, T_INDEX, T_PUNCT, T_ERROR
} TokKind;

typedef struct {
    TokKind kind;
    const char *start;      /* T_WORD, T_HEX: the raw characters (a hex"..." token's digits) */
    size_t len;
    const char *text;       /* T_LOCAL, T_GLOBAL, T_STRING: decoded, NUL-terminated */
    char punct;             /* T_PUNCT: one of {}()[],:= */
    int index;              /* T_INDEX: the N of #N */
    int line, col;
} Token;

typedef struct {
    Arena *arena;
    Diags *diags;
    const char *path;       /* in every location; lives as long as the graph */
    const char *pos, *end, *line_start;
    int line;
    Token tok;              /* the current token */
    int n_errors;           /* of this file, lexical and syntax errors alike */
} Lexer;

/* Sets up lx over text (not copied: it must outlive the parse); lex_next()
 * then reads the first token.  The path is copied into the arena. */
void lex_init(Lexer *lx, Arena *arena, Diags *diags, const char *path, const char *text, size_t length);
/* Reads the next token into lx->tok; after a lexical error it is T_ERROR and
 * the error has been reported. */
void lex_next(Lexer *lx);

void lex_error(Lexer *lx, int line, int col, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void lex_verror(Lexer *lx, int line, int col, const char *fmt, va_list ap);
/* The current token for "expected X, found Y": 'word', %name, a string... */
const char *lex_describe(Lexer *lx);

/* Number syntax, as the printer writes it: [+-]digits, and for floats also
 * inf, nan, a fraction and an exponent (nothing else strtof() would take). */
bool lex_is_int(const char *s);
bool lex_is_float(const char *s);
/* Decodes a T_HEX token's digits (8 a float, little-endian bytes) into n
 * floats; the token must hold exactly 8 * n digits.  False after reporting a
 * digit that is not hex. */
bool lex_decode_hex(Lexer *lx, const Token *hex, float *data, int64_t n);

#endif
