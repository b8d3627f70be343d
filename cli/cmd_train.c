/* cmd_train.c: `xbarc train`, in-memory training of a program's trailing
 * fully connected layers on analog arrays of devices (study/train.c,
 * docs/train.md).
 *
 * The chip is the program's architecture with the non-idealities of --noise,
 * --chip, --time and --set, drawn from --seed, as `xbarc eval` makes it; the
 * devices are --device's (runtime/device.h).  The last line's accuracy is
 * what `xbarc eval` prints for the written program with the same options. */
#include "cli/cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char train_usage[] =
    "usage: xbarc train PROGRAM.xbp --dataset SPEC --device PRESET|FILE\n"
    "                   --algorithm float|sgd|mixed|ttv2 -o OUT.xbp\n"
    "                   [--train-limit N] [--validate N] [--layers N|fc] [--epochs E] [--lr RATE] [--batch B]\n"
    "                   [--init random|program] [--mapping device|pair] [--bl L]\n"
    "                   [--bwd-dac-bits B] [--bwd-adc-bits B] [--out-bound V] [--weight-fraction F]\n"
    "                   [--transfer-every N] [--transfer-lr R] [--zero-shift]\n"
    "                   [--threads T] [--stats-json FILE]\n"
    "                   [--seed S] [--noise P] [--chip FILE] [--time T] [--set FIELD=VALUE ...]\n"
    "\n"
    "In-memory training (docs/train.md): the program's trailing fully connected\n"
    "crossbar layers (as 'xbarc finetune' finds them) become arrays of devices;\n"
    "the earlier layers' outputs come from the chip once per image.  Forward\n"
    "reads go through the program's blocks and ADCs with the chip's read noise,\n"
    "the backward pass reads the same blocks transposed, and the weights move by\n"
    "stochastic pulse trains (Gokmen and Vlasov 2016) through the device model.\n"
    "Prints per epoch the training loss and accuracy, the test accuracy of the\n"
    "arrays, the pulses and the energy; then writes the trained weights,\n"
    "quantized, into the program's tiles and prints the written program's test\n"
    "accuracy on the chip ('after:', what 'xbarc eval' prints for it).  The same\n"
    "seed gives the same bits whatever --threads.\n"
    "\n"
    "  -o FILE              the trained program ('-' is stdout, the rest then goes\n"
    "                       to stderr)\n"
    "  --device PRESET|FILE the devices: idealized, or a device file\n"
    "                       (docs/devices.md); the float algorithm ignores it but\n"
    "                       takes its bound for the weight scale\n"
    "  --algorithm A        float: exact SGD, no device (the baseline: same init,\n"
    "                       minibatches, order and learning rate); sgd: pulses into\n"
    "                       the weights; mixed: a digital accumulator, pulses when\n"
    "                       it passes the device's step (Nandakumar et al. 2018);\n"
    "                       ttv2: Tiki-Taka v2 (Gokmen 2021), a fast array A, a\n"
    "                       transfer buffer and the slow weights\n"
    "  --train-limit N      training images used (default all)\n"
    "  --validate N         hold the last N of them out: the per-epoch accuracy is\n"
    "                       theirs (choose settings on it, not on the test split);\n"
    "                       'after:' stays the test split's\n"
    "  the data set (train and test splits; --limit and --offset: the test split's)\n"
    DATASET_USAGE
    "  --noise ideal|rram|pcm|neurram, --chip FILE, --time T, --set FIELD=VALUE, --seed S\n"
    "                       the chip, as for 'xbarc eval' (docs/noise.md); its\n"
    "                       read_sigma is the arrays' read noise\n"
    "  --layers N|fc        train the last N crossbar layers, or every trailing\n"
    "                       fully connected one (fc, the default)\n"
    "  --epochs E           passes over the training images (default 1)\n"
    "  --lr RATE            SGD's learning rate on the mean loss (default 0.02)\n"
    "  --batch B            minibatch size (default 1)\n"
    "  --init random|program  start from uniform +-1/sqrt(K) weights and zero\n"
    "                       bias (random, the default) or the programmed layers\n"
    "  --mapping device|pair  one bipolar device per weight or a pair; default:\n"
    "                       the program's training mapping (xbarc compile\n"
    "                       --train-mapping: a pair for pair and split), else one\n"
    "                       device; a unipolar device (w_min >= 0, pcm) always a pair\n"
    "  --bl L               pulse stream length, 1 to 1024 (default 31)\n"
    "  --bwd-dac-bits B     the backward pass's error DAC, 2 to 16 (default 8)\n"
    "  --bwd-adc-bits B     its ADC, 1 to 16 (default: each block's forward bits)\n"
    "  --out-bound V        the ADCs' full scale, device units (default 12)\n"
    "  --weight-fraction F  the initial weights' largest |w| as a fraction of\n"
    "                       the device's bound, in (0, 1] (default 0.2)\n"
    "  --transfer-every N   ttv2: updates between two transfers (default 1)\n"
    "  --transfer-lr R      ttv2: the transfer rate (default 0.1)\n"
    "  --zero-shift         ttv2: A's devices start at their symmetry points and a\n"
    "                       reference holding those points is taken from A's\n"
    "                       reads (Kim et al. 2019): A reads 0 where alternating\n"
    "                       pulses leave it (one bipolar device per weight only)\n"
    "  --threads T          worker threads, 1 to 64 (default 1)\n"
    "  --stats-json FILE    the epochs, counters and costs as JSON (docs/train.md)\n";

static bool parse_positive(const char *text, long *out, long max)
{
    return parse_count(text, out) && *out > 0 && *out <= max;
}

static bool parse_real(const char *text, double *out, double lo, double hi)
{
    char *end = NULL;
    *out = strtod(text, &end);
    return end != text && !*end && *out > lo && *out <= hi;
}

typedef struct {
    FILE *text;
    FILE *json;                 /* the epochs array being written, or NULL */
    int test_images;
    const char *held_out;       /* what the per-epoch accuracy is of: "test" or "validation" */
    bool first;
} Printer;

static void print_epoch(void *context, const TrainEpoch *ep)
{
    Printer *pr = context;
    if (ep->epoch == 0) {
        fprintf(pr->text, "epoch 0: %s %.4f (%d %s images, the arrays before training)\n", pr->held_out,
                ep->test_accuracy, pr->test_images, pr->held_out);
    } else {
        fprintf(pr->text, "epoch %d: loss %.4f train %.4f %s %.4f, %llu pulses, %.4g J, %.4g s on chip (%.2f s)\n",
                ep->epoch, ep->train_loss, ep->train_accuracy, pr->held_out, ep->test_accuracy,
                (unsigned long long)ep->counters.pulses, ep->cost.energy_pj * 1e-12, ep->cost.time_ns * 1e-9,
                ep->train_seconds);
    }
    if (pr->json) {
        fprintf(pr->json, "%s\n    {\"epoch\": %d, \"train_loss\": %.17g, \"train_accuracy\": %.17g, "
                "\"%s_accuracy\": %.17g, \"pulses\": %llu, \"energy_j\": %.17g, \"time_s\": %.17g}",
                pr->first ? "" : ",", ep->epoch, ep->train_loss, ep->train_accuracy, pr->held_out, ep->test_accuracy,
                (unsigned long long)ep->counters.pulses, ep->cost.energy_pj * 1e-12, ep->cost.time_ns * 1e-9);
        pr->first = false;
    }
}

static void json_counters(FILE *f, const TrainReport *r)
{
    const TrainCounters *c = &r->counters;
    const TrainCost *k = &r->cost;
    fprintf(f, "  \"counters\": {\"steps\": %llu, \"forward_reads\": %llu, \"transposed_reads\": %llu, "
            "\"pulses\": %llu, \"update_slots\": %llu, \"digital_ops\": %llu, \"buffer_bytes\": %llu},\n",
            (unsigned long long)c->steps, (unsigned long long)c->reads[0], (unsigned long long)c->reads[1],
            (unsigned long long)c->pulses, (unsigned long long)c->update_slots, (unsigned long long)c->digital_ops,
            (unsigned long long)c->buffer_bytes);
    fprintf(f, "  \"cost\": {\"energy_j\": %.17g, \"time_s\": %.17g, \"j_per_step\": %.17g, \"s_per_step\": %.17g, "
            "\"forward_read_j\": %.17g, \"transposed_read_j\": %.17g, \"adc_j\": %.17g, \"pulse_j\": %.17g, "
            "\"digital_j\": %.17g, \"buffer_j\": %.17g, \"update_s\": %.17g, \"extra_tiles\": %d, "
            "\"extra_area_mm2\": %.17g},\n",
            k->energy_pj * 1e-12, k->time_ns * 1e-9, k->pj_per_step * 1e-12, k->ns_per_step * 1e-9,
            k->read_pj[0] * 1e-12, k->read_pj[1] * 1e-12, (k->adc_pj[0] + k->adc_pj[1]) * 1e-12,
            k->pulse_pj * 1e-12, k->digital_pj * 1e-12, k->buffer_pj * 1e-12, k->update_ns * 1e-9,
            k->extra_tiles, k->extra_area_mm2);
    /* no pulses (float) wear nothing: null, as JSON has no infinity */
    char wear[32] = "null";
    if (isfinite(r->epochs_to_wear))
        snprintf(wear, sizeof wear, "%.17g", r->epochs_to_wear);
    fprintf(f, "  \"writes\": {\"max\": %llu, \"mean\": %.17g, \"epochs_to_wear\": %s, \"refreshes\": %llu},\n",
            (unsigned long long)r->max_writes, r->mean_writes, wear, (unsigned long long)r->refreshes);
}

int cmd_train(Args *a)
{
    const char *path = NULL, *out = NULL, *train_text = NULL, *epochs_text = NULL, *lr_text = NULL,
               *batch_text = NULL, *layers_text = NULL, *device_text = NULL, *algorithm_text = NULL,
               *init_text = NULL, *mapping_text = NULL, *bl_text = NULL, *dac_text = NULL, *adc_text = NULL,
               *bound_text = NULL, *fraction_text = NULL, *every_text = NULL, *tlr_text = NULL,
               *threads_text = NULL, *stats_path = NULL, *validate_text = NULL;
    bool zero_shift = false;
    Chip chip = {.sets = calloc((size_t)a->argc + 1, sizeof(char *))};
    DatasetOptions dso = {0};
    while (a->i < a->argc && !a->failed) {
        if (chip_option(a, &chip) || dataset_option(a, &dso))
            continue;
        if (opt_flag(a, "--zero-shift")) {
            zero_shift = true;
            continue;
        }
        if (!opt_value(a, "-o", &out) && !opt_value(a, "--train-limit", &train_text) &&
            !opt_value(a, "--epochs", &epochs_text) && !opt_value(a, "--lr", &lr_text) &&
            !opt_value(a, "--batch", &batch_text) && !opt_value(a, "--layers", &layers_text) &&
            !opt_value(a, "--device", &device_text) && !opt_value(a, "--algorithm", &algorithm_text) &&
            !opt_value(a, "--init", &init_text) && !opt_value(a, "--mapping", &mapping_text) &&
            !opt_value(a, "--bl", &bl_text) && !opt_value(a, "--bwd-dac-bits", &dac_text) &&
            !opt_value(a, "--bwd-adc-bits", &adc_text) && !opt_value(a, "--out-bound", &bound_text) &&
            !opt_value(a, "--weight-fraction", &fraction_text) &&
            !opt_value(a, "--transfer-every", &every_text) && !opt_value(a, "--transfer-lr", &tlr_text) &&
            !opt_value(a, "--threads", &threads_text) && !opt_value(a, "--validate", &validate_text) && !opt_value(a, "--stats-json", &stats_path) && !a->failed)
            opt_positional(a, &path);
    }
    long train_limit = 0, epochs = 0, batch = 0, layers = FINETUNE_LAYERS_FC, bl = 0, dac = 0, adc = 0, every = 0,
         threads = 1, validate = 0;
    TrainOptions o = {0};
    if (!a->failed && !path)
        usage_error(a, "%s", "missing PROGRAM.xbp");
    if (!a->failed && !has_suffix(path, ".xbp"))
        usage_error(a, "training needs a compiled program (.xbp), not %s", path);
    if (!a->failed && !out)
        usage_error(a, "%s", "missing -o OUT.xbp");
    if (!a->failed && !dso.spec)
        usage_error(a, "%s", "missing --dataset SPEC");
    if (!a->failed && dso.split)
        usage_error(a, "%s", "train reads both splits: --split does not apply");
    if (!a->failed && !device_text)
        usage_error(a, "%s", "missing --device PRESET|FILE");
    if (!a->failed && !algorithm_text)
        usage_error(a, "%s", "missing --algorithm float|sgd|mixed|ttv2");
    if (!a->failed && !train_rule_parse(algorithm_text, &o.algorithm))
        usage_error(a, "--algorithm takes float, sgd, mixed or ttv2, not '%s'", algorithm_text);
    if (!a->failed && train_text && !parse_positive(train_text, &train_limit, 1000000000))
        usage_error(a, "--train-limit takes a positive count, not '%s'", train_text);
    if (!a->failed && validate_text && !parse_positive(validate_text, &validate, 1000000000))
        usage_error(a, "--validate takes a positive count, not '%s'", validate_text);
    if (!a->failed && epochs_text && !parse_positive(epochs_text, &epochs, 100000))
        usage_error(a, "--epochs takes a count from 1 to 100000, not '%s'", epochs_text);
    if (!a->failed && batch_text && !parse_positive(batch_text, &batch, 65536))
        usage_error(a, "--batch takes a count from 1 to 65536, not '%s'", batch_text);
    if (!a->failed && layers_text && strcmp(layers_text, "fc") == 0)
        layers = FINETUNE_LAYERS_FC;
    else if (!a->failed && layers_text && !parse_positive(layers_text, &layers, FINETUNE_MAX_LAYERS))
        usage_error(a, "--layers takes a count from 1 to 16 or 'fc', not '%s'", layers_text);
    if (!a->failed && lr_text && !parse_real(lr_text, &o.learning_rate, 0, 10))
        usage_error(a, "--lr takes a rate in (0, 10], not '%s'", lr_text);
    if (!a->failed && init_text && strcmp(init_text, "random") != 0 && strcmp(init_text, "program") != 0)
        usage_error(a, "--init takes random or program, not '%s'", init_text);
    if (!a->failed && mapping_text && strcmp(mapping_text, "device") != 0 && strcmp(mapping_text, "pair") != 0)
        usage_error(a, "--mapping takes device or pair, not '%s'", mapping_text);
    if (!a->failed && bl_text && !parse_positive(bl_text, &bl, 1024))
        usage_error(a, "--bl takes a stream length from 1 to 1024, not '%s'", bl_text);
    if (!a->failed && dac_text && (!parse_positive(dac_text, &dac, 16) || dac < 2))
        usage_error(a, "--bwd-dac-bits takes bits from 2 to 16, not '%s'", dac_text);
    if (!a->failed && adc_text && !parse_positive(adc_text, &adc, 16))
        usage_error(a, "--bwd-adc-bits takes bits from 1 to 16, not '%s'", adc_text);
    if (!a->failed && bound_text && !parse_real(bound_text, &o.out_bound, 0, 1e6))
        usage_error(a, "--out-bound takes a positive full scale, not '%s'", bound_text);
    if (!a->failed && fraction_text && !parse_real(fraction_text, &o.weight_fraction, 0, 1))
        usage_error(a, "--weight-fraction takes a fraction in (0, 1], not '%s'", fraction_text);
    if (!a->failed && every_text && !parse_positive(every_text, &every, 1000000000))
        usage_error(a, "--transfer-every takes a positive count, not '%s'", every_text);
    if (!a->failed && tlr_text && !parse_real(tlr_text, &o.transfer_lr, 0, 1e6))
        usage_error(a, "--transfer-lr takes a positive rate, not '%s'", tlr_text);
    if (!a->failed && zero_shift && o.algorithm != TRAIN_RULE_TTV2)
        usage_error(a, "--zero-shift applies to --algorithm ttv2 only, not %s", algorithm_text);
    if (!a->failed && threads_text && !parse_positive(threads_text, &threads, 64))
        usage_error(a, "--threads takes a count from 1 to 64, not '%s'", threads_text);
    chip_check(a, &chip);
    if (a->failed) {
        free(chip.sets);
        return EXIT_USAGE;
    }
    o.layers = (int)layers, o.epochs = (int)epochs, o.batch = (int)batch, o.threads = (int)threads;
    o.init_random = !init_text || strcmp(init_text, "random") == 0;
    o.mapping_given = mapping_text != NULL;
    o.pair = mapping_text && strcmp(mapping_text, "pair") == 0;
    o.zero_shift = zero_shift;
    o.bl = (int)bl, o.bwd_dac_bits = (int)dac, o.bwd_adc_bits = (int)adc, o.transfer_every = (int)every;

    Arena *arena = arena_new();
    Diags diags;
    diags_init(&diags, arena);
    Loc loc = {.file = path};
    DeviceModel device;
    const char *why = device_load(&device, device_text, arena);
    if (why) {
        diag_error(&diags, &loc, "--device %s: %s", device_text, why);
        free(chip.sets);
        return finish(arena, &diags, false);
    }
    Dataset train, test;
    Outputs *outs = outputs_new(arena, &diags);
    FILE *text = strcmp(out, "-") == 0 ? stderr : stdout;
    bool ok = outputs_add(outs, out) && (!stats_path || outputs_add(outs, stats_path));
    Program *p = ok ? chip_program(arena, path, &chip, &diags) : NULL;
    ok = p != NULL;
    free(chip.sets);
    DatasetOptions train_dso = dso;
    train_dso.limit = train_limit;
    train_dso.offset = 0;
    const Type *input = ok && p->n_inputs == 1 ? &p->buffers[p->inputs[0]].type : NULL;
    int n_classes = ok && p->n_outputs >= 1 ? (int)type_numel(&p->buffers[p->outputs[0]].type) : 0;
    ok = ok && dataset_open(arena, &train_dso, "train", true, input, n_classes, &train, &diags) &&
         dataset_open(arena, &dso, "test", true, input, n_classes, &test, &diags);
    if (ok && (p->n_inputs != 1 || type_numel(&p->buffers[p->inputs[0]].type) != type_numel(&train.image_type))) {
        diag_error(&diags, &loc, "the program's input is not one %s image %s", dso.spec,
                   type_format(arena, &train.image_type));
        ok = false;
    }
    if (ok && validate >= train.count) {
        diag_error(&diags, &loc, "--validate %ld holds out every one of the %d training images", validate, train.count);
        ok = false;
    }
    if (!ok)
        return finish(arena, &diags, outputs_commit(outs, false));
    /* the per-epoch accuracy: of the held-out training images, or of the test split */
    Dataset held = test;
    if (validate) {
        int kept = train.count - (int)validate;
        held.count = (int)validate;
        held.images = train.images + (size_t)kept * (size_t)type_numel(&train.image_type);
        held.labels = train.labels + kept;
        train.count = kept;
    }

    fprintf(text, "device %s (%s), algorithm %s%s, %d training images\n", device.name, device.description,
            train_rule_name(o.algorithm), o.zero_shift ? " (A zero-shifted)" : "", train.count);
    Printer printer = {.text = text, .test_images = held.count, .held_out = validate ? "validation" : "test",
                       .first = true};
    char *json_text = NULL;
    size_t json_size = 0;
    if (stats_path) {
        printer.json = open_memstream(&json_text, &json_size);
        fprintf(printer.json, "{\n  \"command\": \"train\",\n  \"device\": \"%s\",\n  \"algorithm\": \"%s\",\n"
                "  \"seed\": %llu,\n  \"epochs\": [", device.name, train_rule_name(o.algorithm),
                (unsigned long long)chip.seed);
    }
    double start = now_seconds();
    TrainReport report;
    ok = train_program(p, chip.seed, &device, train.images, train.labels, train.count, held.images, held.labels,
                       held.count, &o, print_epoch, &printer, &report, &diags);
    double seconds = now_seconds() - start;
    double after = ok ? finetune_accuracy(p, chip.seed, test.images, test.labels, test.count) : 0;
    if (ok && printer.json) {
        fprintf(printer.json, "\n  ],\n");
        json_counters(printer.json, &report);
        fprintf(printer.json, "  \"after\": %.17g,\n  \"test_images\": %d,\n  \"seconds\": %.6g\n}\n", after,
                test.count, seconds);
    }
    if (printer.json)
        fclose(printer.json);
    ok = ok && program_write(p, outs, out, &diags) &&
         (!stats_path || outputs_write(outs, stats_path, json_text, json_size));
    free(json_text);
    if (!outputs_commit(outs, ok))
        return finish(arena, &diags, false);
    fprintf(text, "layer%s ", report.n_layers > 1 ? "s" : "");
    for (int i = 0; i < report.n_layers; i++)
        fprintf(text, "%s%s (%s, scale %.4g)", i ? ", " : "", report.layers[i],
                report.pair[i] ? "a pair" : "a device", report.scale[i]);
    fprintf(text, ": %lld weights, %lld of them changed in the program\n", (long long)report.weights,
            (long long)report.weights_changed);
    const TrainCost *k = &report.cost;
    fprintf(text, "cost: %.4g J, %.4g s on chip (%.4g nJ, %.4g us a step); pulses %llu; "
            "writes per device max %llu, mean %.4g: %.3g epochs to the endurance (%.3g)\n",
            k->energy_pj * 1e-12, k->time_ns * 1e-9, k->pj_per_step * 1e-3, k->ns_per_step * 1e-3,
            (unsigned long long)report.counters.pulses, (unsigned long long)report.max_writes, report.mean_writes,
            report.epochs_to_wear, device.endurance);
    if (report.cost.extra_tiles || report.cost.extra_area_mm2 > 0)
        fprintf(text, "training adds %d tiles and %.4g mm^2 to the chip (docs/train-mapping.md)\n",
                report.cost.extra_tiles, report.cost.extra_area_mm2);
    if (report.refreshes)
        fprintf(text, "pairs refreshed (a device at its bound): %llu\n", (unsigned long long)report.refreshes);
    fprintf(text, "time: %.3f s (features on the chip %.3f s, training %.3f s, CPU %.3f s)\n", seconds,
            report.feature_seconds, report.train_seconds, report.train_cpu_seconds);
    fprintf(text, "after: %.4f (%d test images)\n", after, test.count);
    return finish(arena, &diags, true);
}
