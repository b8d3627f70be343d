/* diag.c: collected diagnostics with locations.
 *
 * Every phase reports what it finds and goes on where it can, so that a user
 * sees all problems of a model at once (every unsupported op, not the first). */
#include "ir.h"

#include <string.h>

void diags_init(Diags *diags, Arena *arena)
{
    memset(diags, 0, sizeof *diags);
    diags->arena = arena;
}

/* In the arena, whatever the lengths: a node name may be any string of the
 * model (a fixed buffer once indexed past its end on a long one). */
char *loc_format(Arena *arena, const Loc *loc)
{
    char *s = "";
    if (loc && loc->file)
        s = loc->line > 0 ? arena_printf(arena, "%s:%d:%d", loc->file, loc->line, loc->col)
                          : arena_printf(arena, "%s", loc->file);
    if (loc && loc->node)
        s = arena_printf(arena, "%s%snode '%s' (#%d%s%s)", s, *s ? ": " : "", loc->node, loc->node_index,
                         loc->node_op ? ", " : "", loc->node_op ? loc->node_op : "");
    return *s ? s : arena_strdup(arena, "");
}

/* Appends "WHERE: KIND: MESSAGE" to the list. */
static void diag_add(Diags *diags, const Loc *loc, const char *kind, const char *fmt, va_list ap)
{
    char *where = loc_format(diags->arena, loc);
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    char *msg = arena_alloc(diags->arena, (size_t)(n < 0 ? 0 : n) + 1);
    vsnprintf(msg, (size_t)n + 1, fmt, ap);

    DiagMsg *m = arena_alloc(diags->arena, sizeof *m);
    m->text = *where ? arena_printf(diags->arena, "%s: %s: %s", where, kind, msg)
                     : arena_printf(diags->arena, "%s: %s", kind, msg);
    if (diags->last)
        diags->last->next = m;
    else
        diags->first = m;
    diags->last = m;
}

void diag_verror(Diags *diags, const Loc *loc, const char *fmt, va_list ap)
{
    diag_add(diags, loc, "error", fmt, ap);
    diags->n_errors++;
}

void diag_note(Diags *diags, const Loc *loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_add(diags, loc, "note", fmt, ap);
    va_end(ap);
}

void diag_warning(Diags *diags, const Loc *loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_add(diags, loc, "warning", fmt, ap);
    va_end(ap);
}

void diag_error(Diags *diags, const Loc *loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_verror(diags, loc, fmt, ap);
    va_end(ap);
}

bool ir_op_error(const Op *op, Diags *diags, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    diag_error(diags, &op->loc, "%s: %s", op_info[op->kind].name, msg);
    return false;
}

void diags_print(const Diags *diags, FILE *out)
{
    for (const DiagMsg *m = diags->first; m; m = m->next)
        fprintf(out, "%s\n", m->text);
}
