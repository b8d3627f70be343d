/* program_builder.h: programs built by hand, buffer by buffer and
 * instruction by instruction (the structs of runtime/program.h, no compiler
 * code), for the tests of what reads a program: the simulator
 * (sim_fixture.h), the performance model (test_perf.c) and the training
 * mapping (test_train_map.c).  Header-only, like test_support.h. */
#ifndef XBARC_TEST_PROGRAM_BUILDER_H
#define XBARC_TEST_PROGRAM_BUILDER_H

#include <criterion/criterion.h>

#include <math.h>

#include "runtime/program.h"

/* An empty program in `arena` with room for `cap` buffers, instructions and
 * tiles, and 8 inputs and outputs. */
static inline Program *builder_program(Arena *arena, int cap)
{
    Program *pg = arena_alloc(arena, sizeof *pg);
    pg->arena = arena;
    pg->buffers = arena_array(arena, (size_t)cap, sizeof *pg->buffers);
    pg->tiles = arena_array(arena, (size_t)cap, sizeof *pg->tiles);
    pg->instrs = arena_array(arena, (size_t)cap, sizeof *pg->instrs);
    pg->inputs = arena_array(arena, 8, sizeof(int));
    pg->outputs = arena_array(arena, 8, sizeof(int));
    return pg;
}

/* A buffer named b<id>; a constant gets zeroed data, an input or output its
 * place in the program's list. */
static inline int builder_buffer(Program *pg, BufferKind kind, bool wide, int rank, const int64_t *dims)
{
    int id = pg->n_buffers++;
    Buffer *b = &pg->buffers[id];
    b->name = arena_printf(pg->arena, "b%d", id);
    b->kind = kind;
    b->wide = wide;
    b->type = type_make(rank, dims);
    if (kind == BUF_CONST)
        b->data = arena_array(pg->arena, (size_t)type_numel(&b->type), sizeof(float));
    if (kind == BUF_INPUT)
        pg->inputs[pg->n_inputs++] = id;
    if (kind == BUF_OUTPUT)
        pg->outputs[pg->n_outputs++] = id;
    return id;
}

static inline int builder_buffer2(Program *pg, BufferKind kind, bool wide, int64_t d0, int64_t d1)
{
    int64_t dims[2] = {d0, d1};
    return builder_buffer(pg, kind, wide, 2, dims);
}

/* An instruction of `layer` writing dst from src0 (its other sources none). */
static inline Instr *builder_instr(Program *pg, Opcode opcode, const char *layer, int dst, int src0)
{
    Instr *in = &pg->instrs[pg->n_instrs++];
    in->opcode = opcode;
    in->layer = layer;
    in->dst = dst;
    in->src[0] = src0;
    in->src[1] = in->src[2] = -1;
    return in;
}

/* Figures worked out by hand against the model's, to 1e-9 relative. */
static inline bool builder_near(double got, double want)
{
    return fabs(got - want) <= 1e-9 * fmax(1.0, fabs(want));
}

#define NEAR(got, want) \
    cr_expect(builder_near((got), (want)), "%s = %.12g, want %.12g", #got, (double)(got), (double)(want))

#endif
