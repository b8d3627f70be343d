/* program_format.h: what the program writer (runtime/program_write.c), reader
 * (runtime/program_io.c) and checker (runtime/program_check.c) share: the
 * format's constants (docs/program-format.md) and the reader's state. */
#ifndef XBARC_PROGRAM_FORMAT_H
#define XBARC_PROGRAM_FORMAT_H

#include "runtime/program.h"

/* The sections, in the order they appear. */
enum { SEC_ARCH, SEC_FLAGS, SEC_STRINGS, SEC_CONSTS, SEC_BUFFERS, SEC_TILES, SEC_INSTRS, SEC_IO, SEC_COUNT };

typedef struct {
    char tag[5];                /* four ASCII letters in the file */
    const char *name;           /* in messages */
} Section;

extern const Section program_sections[SEC_COUNT];

enum { NO_STRING = 0xffffffffu, FLAG_FLOAT_WEIGHTS = 1, FLAG_TUNED = 2 };
/* A tile's cell encoding: levels packed at cell_bits bits a cell (cell k in
 * bits k*cell_bits .. of a little-endian bit stream), or float32 cells. */
enum { CELLS_PACKED = 0, CELLS_F32 = 1 };

/* Bytes of n cells packed at `bits` bits each. */
static inline size_t packed_bytes(size_t n, int bits)
{
    return (n * (size_t)bits + 7) / 8;
}

/* The file stores these enums as numbers: renumbering one changes the format,
 * so it must come with a new PROGRAM_VERSION. */
_Static_assert(INSTR_QUANT == 0 && INSTR_IM2COL == 1 && INSTR_MVM == 2 && INSTR_COMBINE == 3 &&
                   INSTR_DEQUANT == 4 && INSTR_DIGITAL == 5 && INSTR_COUNT == 6,
               "opcode numbers are part of the program format");
_Static_assert(BUF_INPUT == 0 && BUF_OUTPUT == 1 && BUF_CONST == 2 && BUF_TEMP == 3,
               "buffer kinds are part of the program format");
_Static_assert(SIGN_PAIR_ANALOG == 0 && SIGN_PAIR_DIGITAL == 1 && SIGN_OFFSET == 2,
               "sign mappings are part of the program format");
_Static_assert(DT_F32 == 0 && DT_I64 == 6 && DT_BOOL == 11 && DT_COUNT == 12,
               "dtypes are part of the program format");
_Static_assert(ATTR_INT == 0 && ATTR_FLOAT == 1 && ATTR_INTS == 2 && ATTR_FLOATS == 3 && ATTR_STRING == 4,
               "attribute kinds are part of the program format");

/* The reader's state, shared with the checker. */
typedef struct {
    Arena *arena;               /* the program's */
    Diags *diags;
    Loc loc;                    /* the file, for every message */
    Program *program;
    const unsigned char *p, *end;   /* unread bytes of the current section */
    const char *section;        /* its name, for messages */
    bool failed;                /* a structural error was reported: stop reading */
    uint32_t n_strings;
    const char **strings;
    uint64_t n_consts;
    float *consts;
    Value **values;             /* by buffer id: the Values of digital ops */
    size_t arena_start;         /* arena_bytes(arena) before reading: what reading took is held against the limit */
    const FileBytes *file;      /* the file read (program_read): packed tiles point into it, and its pages
                                   are let go as the tiles are read; NULL: the tiles are copied */
} Reader;

/* Checks a structurally sound program for consistency, reporting every problem
 * (up to a limit) with the file name. */
void program_check(Reader *r);

#endif
