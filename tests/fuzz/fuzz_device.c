/* fuzz_device.c: the device file reader (runtime/device_file.c) from memory;
 * a model it accepts must pass device_check and take pulses both ways
 * without leaving its bounds. */
#include "runtime/device.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_memory_limit();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Arena *arena = arena_new();
    DeviceModel model;
    const char *why = device_parse(&model, "device.json", (const char *)data, size, arena);
    if (!why) {
        if (device_check(&model)) {
            fprintf(stderr, "an accepted device fails device_check: %s\n", device_check(&model));
            abort();
        }
        DeviceCell cell;
        device_init(&model, 1, 0, &cell);
        for (int direction = 1; direction >= -1; direction -= 2) {
            device_pulse(&model, 1, &cell, direction, 50);
            if (!(cell.w >= cell.w_min && cell.w <= cell.w_max)) {
                fprintf(stderr, "a pulse train left the bounds: w %g of [%g, %g]\n", cell.w, cell.w_min, cell.w_max);
                abort();
            }
        }
    } else if (!*why) {
        fprintf(stderr, "the read failed without a message\n");
        abort();
    }
    arena_free(arena);
    return 0;
}
