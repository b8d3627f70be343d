/* arena.c: bump allocation in large chunks, all released at once.
 *
 * A compilation allocates many small objects (values, ops, attribute lists,
 * names) and a few big ones (weights, tiles); none of them is freed before the
 * end, so a list of chunks is all the bookkeeping needed.  Small objects share
 * 64 KiB chunks.  Big ones are bumped one after the other in regions mapped
 * straight from the kernel: their pages come zeroed on first touch, so they
 * need no memset, pages never touched cost nothing, and transparent huge pages
 * (asked for with madvise) cut the page faults of touching them ~500x.  Packing
 * big blocks back to back matters with huge pages: a block mapped alone would
 * have its last 2 MiB page zeroed whole, however little of it the block uses. */
#define _DEFAULT_SOURCE     /* MAP_ANONYMOUS, madvise */
#include "ir.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

enum { CHUNK_SIZE = 64 * 1024, ALIGN = 16 };

typedef struct Chunk Chunk;
struct Chunk {
    Chunk *next;
    size_t used, size;
    size_t mapped;          /* bytes mmap'd for a region of big blocks, 0 when malloc'd */
    _Alignas(16) unsigned char data[];
};

/* Blocks from BIG_BLOCK bytes on go to a mapped region of at least REGION
 * bytes (a bigger block gets a region of its own size), aligned to cache lines. */
enum { BIG_BLOCK = 64 * 1024, BIG_ALIGN = 64 };
#define HUGE_PAGE ((size_t)2 << 20)
#define REGION ((size_t)64 << 20)

typedef struct Release Release;
struct Release {
    void (*release)(void *context);
    void *context;
    Release *next;
};

struct Arena {
    Chunk *chunks;          /* current chunk of small objects first */
    Chunk *regions;         /* current region of big blocks first */
    size_t bytes;
    Release *releases;      /* arena_on_free, the last registered first */
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
    for (Release *r = arena->releases; r; r = r->next)
        r->release(r->context);
    for (Chunk *c = arena->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    for (Chunk *c = arena->regions, *next; c; c = next) {
        next = c->next;
        munmap(c, c->mapped);
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

/* A mapped region with room for at least `size` bytes of data after the
 * header; NULL when the kernel refuses (the caller falls back to malloc). */
static Chunk *region_map(size_t size)
{
    size_t want = size > REGION - BIG_ALIGN - sizeof(Chunk) ? size + BIG_ALIGN + sizeof(Chunk) : REGION;
    size_t bytes = (want + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    if (bytes < want)
        return NULL;
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE);
#endif
    Chunk *c = p;
    c->size = bytes - sizeof(Chunk);
    c->used = 0;
    c->mapped = bytes;
    return c;
}

/* The first offset from `used` on in r's data whose address is BIG_ALIGN-aligned. */
static size_t align_offset(const Chunk *r, size_t used)
{
    uintptr_t at = (uintptr_t)r->data + used;
    return used + (((uintptr_t)BIG_ALIGN - at % BIG_ALIGN) % BIG_ALIGN);
}

/* A big block, zeroed: the next BIG_ALIGN-aligned bytes of the current region
 * (a fresh region's untouched pages are zero), else of a new region. */
static void *big_alloc(Arena *arena, size_t size)
{
    Chunk *r = arena->regions;
    size_t at = r ? align_offset(r, r->used) : 0;
    if (!r || at > r->size || r->size - at < size) {
        r = region_map(size);
        if (!r)
            return NULL;
        r->next = arena->regions;
        arena->regions = r;
        at = align_offset(r, 0);
    }
    r->used = at + size;
    return r->data + at;
}

void *arena_alloc(Arena *arena, size_t size)
{
    size_t rounded = (size + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (rounded < size)
        out_of_memory(size);
    if (rounded >= BIG_BLOCK) {
        void *p = big_alloc(arena, rounded);
        if (p) {
            arena->bytes += rounded;
            return p;
        }
    }
    Chunk *cur = arena->chunks;
    if (!cur || cur->size - cur->used < rounded) {
        if (rounded > CHUNK_SIZE / 4) {
            /* A big block the kernel would not map: its own chunk, linked
             * behind the current one. */
            Chunk *big = chunk_new(rounded);
            big->used = rounded;
            if (cur) {
                big->next = cur->next;
                cur->next = big;
            } else {
                arena->chunks = big;
            }
            arena->bytes += rounded;
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

void arena_on_free(Arena *arena, void (*release)(void *context), void *context)
{
    Release *r = arena_alloc(arena, sizeof *r);
    *r = (Release){release, context, arena->releases};
    arena->releases = r;
}

size_t arena_bytes(const Arena *arena)
{
    return arena->bytes;
}

void *arena_grow_to(Arena *arena, const void *array, size_t count, size_t new_cap, size_t elem_size)
{
    void *bigger = arena_array(arena, new_cap, elem_size);
    if (count)
        memcpy(bigger, array, count * elem_size);
    return bigger;
}

/* ---- the memory limit ---- */

uint64_t memory_limit(void)
{
    static uint64_t limit;
    if (limit)
        return limit;
    const char *text = getenv("XBARC_MEMORY_LIMIT");
    if (text && *text) {
        char *end;
        unsigned long long v = strtoull(text, &end, 10);
        int shift = *end == 'K' || *end == 'k' ? 10 : *end == 'M' || *end == 'm' ? 20
                  : *end == 'G' || *end == 'g' ? 30 : 0;
        if (v > 0 && end != text && (shift == 0 ? *end == 0 : end[1] == 0 || strcmp(end + 1, "iB") == 0 ||
                                                              strcmp(end + 1, "B") == 0) &&
            v <= (UINT64_MAX >> shift))
            return limit = (uint64_t)v << shift;
        fprintf(stderr, "xbarc: ignoring XBARC_MEMORY_LIMIT='%s' (bytes, or a number with K, M or G)\n", text);
    }
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    uint64_t physical = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : (uint64_t)8 << 30;
    return limit = physical / 4 * 3;
}

bool memory_check(uint64_t count, uint64_t elem_size, const char *what, const Loc *loc, Diags *diags)
{
    uint64_t limit = memory_limit();
    if (elem_size == 0 || count <= limit / elem_size)
        return true;
    double mib = (double)count * (double)elem_size / (1 << 20);
    diag_error(diags, loc, "%s needs %.0f MiB, more than the memory limit of %.0f MiB (XBARC_MEMORY_LIMIT)",
               what, mib, (double)limit / (1 << 20));
    return false;
}
