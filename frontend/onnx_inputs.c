/* onnx_inputs.c: the names of a model's free graph inputs, those without an
 * initializer, in the graph's order.  ONNX's backend test runner feeds a test
 * case's input_K.pb to the K-th of them, so a .pb file without a name (as
 * torch's converted tests have) is bound by this position. */
#include "frontend/frontend.h"
#include "onnx.pb-c.h"

#include <string.h>

static void *proto_alloc(void *arena, size_t size)
{
    return arena_alloc(arena, size);
}

static void proto_free(void *arena, void *pointer)
{
    (void)arena, (void)pointer;
}

int onnx_free_input_names(Arena *arena, const char *path, const char **names, int max, Diags *diags)
{
    Loc loc = {.file = arena_strdup(arena, path)};
    FileBytes bytes;
    if (!file_read(path, 0, &loc, diags, &bytes))
        return -1;
    ProtobufCAllocator allocator = {.alloc = proto_alloc, .free = proto_free, .allocator_data = arena};
    Onnx__ModelProto *model = onnx__model_proto__unpack(&allocator, bytes.size, bytes.data);
    file_release(&bytes);
    if (!model || !model->graph) {
        diag_error(diags, &loc, "not an ONNX model (protobuf parse failed)");
        return -1;
    }
    const Onnx__GraphProto *gp = model->graph;
    int count = 0;
    for (size_t i = 0; i < gp->n_input && count < max; i++) {
        const char *name = gp->input[i]->name ? gp->input[i]->name : "";
        bool initialized = false;
        for (size_t j = 0; j < gp->n_initializer && !initialized; j++)
            initialized = gp->initializer[j]->name && strcmp(gp->initializer[j]->name, name) == 0;
        if (!initialized)
            names[count++] = name;
    }
    return count;
}
