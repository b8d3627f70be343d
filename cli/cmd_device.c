/* cmd_device.c: `xbarc device`, a device model's parameters and its pulse
 * response (runtime/device.h, docs/devices.md): N up then N down pulses on C
 * devices of their own spread, the mean and spread of their weights every
 * N/10 pulses. */
#include "cli/cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char device_usage[] =
    "usage: xbarc device NAME|FILE [--pulses N] [--seed S] [--cells C] [--json]\n"
    "\n"
    "Prints a device update model (docs/devices.md) and its pulse response:\n"
    "C devices, each with its own device-to-device spread drawn from the seed,\n"
    "start at w = 0 (clipped to their bounds) and take N up pulses then N down\n"
    "pulses with their cycle-to-cycle noise; the table gives the mean weight,\n"
    "its standard deviation over the devices and the mean weight read back\n"
    "(with the write noise) every N/10 pulses (rounded up) and at the turn.\n"
    "\n"
    "  NAME|FILE            a preset (idealized, reram, pcm, ecram, capacitor) or a\n"
    "                       device file (JSON: chips/devices/*.json are the presets)\n"
    "  --pulses N           pulses each way (default 1000, at most 10000000)\n"
    "  --cells C            devices averaged (default 100, at most 1000000;\n"
    "                       N times C at most 1e9)\n"
    "  --seed S             the devices' and pulses' draws (default 1)\n"
    "  --json               the parameters and the table as one JSON object\n";

typedef struct {
    long pulse;
    int direction;
    double mean, sd, read;
} ResponseRow;

/* Rows of the response to n pulses each way: every `every` pulses and at the turn. */
static long response_every(long n)
{
    return (n + 9) / 10;
}
static int response_rows(long n)
{
    return (int)(2 * n / response_every(n)) + 3;
}

static int pulse_response(const DeviceModel *m, uint64_t seed, long n, long cells, ResponseRow *rows)
{
    long every = response_every(n);
    int count = 0;
    DeviceCell *cell = calloc((size_t)cells, sizeof *cell);
    double *sum = calloc((size_t)response_rows(n), 3 * sizeof(double));
    for (long c = 0; c < cells; c++) {
        uint64_t key = device_key(seed, (uint64_t)c);
        device_init(m, key, 0, &cell[c]);
        int row = 0;
        for (long p = 0; p <= 2 * n; p++) {
            if (p > 0)
                device_pulse(m, key, &cell[c], p <= n ? 1 : -1, 1);
            if (p % every == 0 || p == n) {
                sum[3 * row] += cell[c].w;
                sum[3 * row + 1] += (double)cell[c].w * cell[c].w;
                sum[3 * row + 2] += cell[c].w_read;
                if (c == 0)
                    rows[row] = (ResponseRow){.pulse = p, .direction = p == 0 ? 0 : p <= n ? 1 : -1};
                row++;
            }
        }
        count = row;
    }
    for (int r = 0; r < count; r++) {
        rows[r].mean = sum[3 * r] / (double)cells;
        rows[r].sd = sqrt(fmax(sum[3 * r + 1] / (double)cells - rows[r].mean * rows[r].mean, 0));
        rows[r].read = sum[3 * r + 2] / (double)cells;
    }
    free(sum);
    free(cell);
    return count;
}

static void print_json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    putchar('"');
}

int cmd_device(Args *a)
{
    const char *name = NULL, *pulses_text = NULL, *seed_text = NULL, *cells_text = NULL;
    bool json = false;
    while (a->i < a->argc && !a->failed) {
        if (opt_flag(a, "--json"))
            json = true;
        else if (!opt_value(a, "--pulses", &pulses_text) && !opt_value(a, "--seed", &seed_text) &&
                 !opt_value(a, "--cells", &cells_text) && !a->failed)
            opt_positional(a, &name);
    }
    long pulses = 1000, cells = 100, seed = 1;
    if (!a->failed && !name)
        usage_error(a, "%s", "missing a device NAME or FILE");
    if (!a->failed && pulses_text && (!parse_count(pulses_text, &pulses) || pulses < 1 || pulses > 10000000))
        usage_error(a, "--pulses takes a whole number from 1 to 10000000, not '%s'", pulses_text);
    if (!a->failed && cells_text && (!parse_count(cells_text, &cells) || cells < 1 || cells > 1000000))
        usage_error(a, "--cells takes a whole number from 1 to 1000000, not '%s'", cells_text);
    if (!a->failed && (double)pulses * (double)cells > 1e9)
        usage_error(a, "%s", "--pulses times --cells must be at most 1e9 (2e9 pulses)");
    if (!a->failed && seed_text && !parse_count(seed_text, &seed))
        usage_error(a, "--seed takes a non-negative integer, not '%s'", seed_text);
    if (a->failed)
        return EXIT_USAGE;

    Arena *arena = arena_new();
    DeviceModel m;
    const char *why = device_load(&m, name, arena);
    if (why) {
        fprintf(stderr, "xbarc device: %s\n", why);
        arena_free(arena);
        return EXIT_INPUT;
    }
    ResponseRow *rows = arena_array(arena, (size_t)response_rows(pulses), sizeof *rows);
    int count = pulse_response(&m, (uint64_t)seed, pulses, cells, rows);
    const char *fields = device_describe(&m, json ? 17 : 6, arena);
    if (json) {
        printf("{\"name\": ");
        print_json_string(m.name);
        printf(", \"description\": ");
        print_json_string(m.description ? m.description : "");
        printf(", \"source\": ");
        print_json_string(m.source ? m.source : "");
        printf(", \"model\": \"%s\"", device_kind_name(m.kind));
        /* "model=K f=v f=v ...": every field after the kind as a number */
        for (const char *p = strchr(fields, ' '); p && strncmp(p + 1, "points_", 7) != 0; p = strchr(p + 1, ' ')) {
            const char *eq = strchr(p, '=');
            const char *value = arena_printf(arena, "%.*s", (int)strcspn(eq + 1, " "), eq + 1);
            if (strncmp(p + 1, "mult_noise=", 11) == 0)
                value = m.mult_noise ? "true" : "false";
            printf(", \"%.*s\": %s", (int)(eq - p - 1), p + 1, value);
        }
        for (int dir = 0; m.kind == DEVICE_PIECEWISE && dir < 2; dir++) {
            printf(", \"%s\": [", dir ? "points_down" : "points_up");
            for (int i = 0; i < m.n_points; i++)
                printf("%s%.17g", i ? ", " : "", dir ? m.points_down[i] : m.points_up[i]);
            printf("]");
        }
        printf(", \"pulses_each_way\": %ld, \"cells\": %ld, \"seed\": %ld, \"response\": [", pulses, cells, seed);
        for (int r = 0; r < count; r++)
            printf("%s{\"pulse\": %ld, \"direction\": %d, \"w\": %.9g, \"sd\": %.9g, \"w_read\": %.9g}",
                   r ? ", " : "", rows[r].pulse, rows[r].direction, rows[r].mean, rows[r].sd, rows[r].read);
        printf("]}\n");
    } else {
        printf("device %s: %s model\n", m.name, device_kind_name(m.kind));
        if (m.description && *m.description)
            printf("  %s\n", m.description);
        if (m.source && *m.source)
            printf("  source: %s\n", m.source);
        printf("  %s\n", fields);
        printf("  states (w_max - w_min) / dw_min: %.0f\n", (m.w_max - m.w_min) / m.dw_min);
        printf("pulse response: %ld up then %ld down pulses from w = 0, %ld devices, seed %ld\n", pulses, pulses,
               cells, seed);
        printf("%10s  %-4s  %12s  %12s  %12s\n", "pulse", "dir", "mean w", "sd w", "mean w_read");
        for (int r = 0; r < count; r++)
            printf("%10ld  %-4s  %12.6f  %12.6f  %12.6f\n", rows[r].pulse,
                   rows[r].direction > 0 ? "up" : rows[r].direction < 0 ? "down" : "-", rows[r].mean, rows[r].sd,
                   rows[r].read);
    }
    arena_free(arena);
    return 0;
}
