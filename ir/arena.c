/* arena.c: bump allocation in large chunks, all released at once.
 *
 * A compilation allocates many small objects (values, ops, attribute lists,
 * names) and a few big ones (weights); none of them is freed before the end, so
 * a list of chunks is all the bookkeeping needed.  Big requests get a chunk of
 * their own so that the current chunk keeps serving small ones. */
#define _DEFAULT_SOURCE     /* MAP_ANONYMOUS, madvise */
#include "ir.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

enum { CHUNK_SIZE = 64 * 1024, ALIGN = 16 };

typedef struct Chunk Chunk;
struct Chunk {
    Chunk *next;
    size_t used, size;
    size_t mapped;          /* bytes mmap'd for a huge block, 0 when malloc'd */
    _Alignas(16) unsigned char data[];
};

/* Blocks from this size on (weights, tiles) are mapped straight from the
 * kernel: its pages come zeroed, so they need no memset, and transparent huge
 * pages (asked for with madvise) cut the page faults of touching them ~500x. */
enum { HUGE_BLOCK = 1 << 20, HUGE_PAGE = 2 << 20 };

struct Arena {
    Chunk *chunks;          /* current chunk first */
    size_t bytes;
};

static void out_of_memory(size_t size)
{
    fprintf(stderr, "xbarc: out of memory (allocating %zu bytes)\n", size);
    abort();
}

Arena *arena_new(void)
{
    Arena *arena = calloc(1, sizeof *arena);
    if (!arena)
        out_of_memory(sizeof *arena);
    return arena;
}

void arena_free(Arena *arena)
{
    if (!arena)
        return;
    for (Chunk *c = arena->chunks, *next; c; c = next) {
        next = c->next;
        if (c->mapped)
            munmap(c, c->mapped);
        else
            free(c);
    }
    free(arena);
}

static Chunk *chunk_new(size_t size)
{
    if (size > SIZE_MAX - sizeof(Chunk))
        out_of_memory(size);
    Chunk *c = malloc(sizeof(Chunk) + size);
    if (!c)
        out_of_memory(size);
    c->next = NULL;
    c->used = 0;
    c->size = size;
    c->mapped = 0;
    return c;
}

/* A zeroed chunk of at least `size` bytes of data, mapped on its own; NULL
 * when the kernel refuses (the caller falls back to malloc). */
static Chunk *chunk_map(size_t size)
{
    size_t bytes = (sizeof(Chunk) + size + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE);
#endif
    Chunk *c = p;
    c->size = size;
    c->used = size;
    c->mapped = bytes;
    return c;
}

void *arena_alloc(Arena *arena, size_t size)
{
    size_t rounded = (size + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (rounded < size)
        out_of_memory(size);
    Chunk *cur = arena->chunks;
    if (!cur || cur->size - cur->used < rounded) {
        if (rounded > CHUNK_SIZE / 4) {
            /* A big block: its own chunk, linked behind the current one. */
            Chunk *big = rounded >= HUGE_BLOCK ? chunk_map(rounded) : NULL;
            bool zeroed = big != NULL;
            if (!big)
                big = chunk_new(rounded);
            big->used = rounded;
            if (cur) {
                big->next = cur->next;
                cur->next = big;
            } else {
                arena->chunks = big;
            }
            arena->bytes += rounded;
            if (!zeroed)
                memset(big->data, 0, rounded);
            return big->data;
        }
        Chunk *fresh = chunk_new(CHUNK_SIZE);
        fresh->next = cur;
        arena->chunks = cur = fresh;
    }
    void *p = cur->data + cur->used;
    cur->used += rounded;
    arena->bytes += rounded;
    memset(p, 0, rounded);
    return p;
}

void *arena_array(Arena *arena, size_t count, size_t elem_size)
{
    if (elem_size && count > SIZE_MAX / elem_size)
        out_of_memory(SIZE_MAX);
    return arena_alloc(arena, count * elem_size);
}

char *arena_strdup(Arena *arena, const char *text)
{
    size_t n = strlen(text) + 1;
    char *p = arena_alloc(arena, n);
    memcpy(p, text, n);
    return p;
}

char *arena_printf(Arena *arena, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = arena_alloc(arena, (size_t)(n < 0 ? 0 : n) + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

size_t arena_bytes(const Arena *arena)
{
    return arena->bytes;
}
