/* cmd_finetune.c: `xbarc finetune`, hybrid fine-tuning of a program's last
 * crossbar layers on the simulated chip (study/finetune.c, docs/finetune.md).
 *
 * The chip is the program's architecture with the non-idealities of --noise,
 * --time and --set, drawn from --seed, as `xbarc eval` makes it; the test
 * accuracies before and after are what `xbarc eval` prints for the input and
 * the written program with the same options. */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

const char finetune_usage[] =
    "usage: xbarc finetune PROGRAM.xbp --dataset SPEC --train-limit N -o OUT.xbp\n"
    "                      [--seed S] [--noise P] [--chip FILE] [--time T] [--set FIELD=VALUE ...]\n"
    "                      [--layers N|fc] [--no-reencode] [--plain] [--epochs E] [--lr RATE]\n"
    "                      [--batch B] [--limit N] [--data-dir DIR]\n"
    "\n"
    "Hybrid fine-tuning (Yao et al., Nature 2020; docs/finetune.md): runs the\n"
    "programmed chip on the first N training images, retrains its last (fully\n"
    "connected) crossbar layers on the features the chip's earlier layers gave,\n"
    "quantizes them again, reprograms their tiles and writes the new program,\n"
    "which records the chip it was tuned for (seed and non-idealities, shown by\n"
    "'xbarc explain').  Prints the test accuracy on the chip before and after\n"
    "('before:', 'after:').  The defaults are the recommended setting of\n"
    "docs/finetune.md (LeNet-5 on its chip: 0.9066 on average over three seeds,\n"
    "against 0.8746 for Yao et al.'s last layer alone).\n"
    "\n"
    "  -o FILE              the fine-tuned program (checked before the training;\n"
    "                       '-' is stdout, the rest then goes to stderr)\n"
    "  --train-limit N      training images used (the first N, after --shuffle)\n"
    "  the data set (train and test splits; --limit and --offset: the test split's)\n"
    DATASET_USAGE
    "  --noise ideal|rram|pcm|neurram, --chip FILE, --time T, --set FIELD=VALUE, --seed S\n"
    "                       the chip, as for 'xbarc eval' (docs/noise.md)\n"
    "  --layers N|fc        retrain the last N crossbar layers (1: Yao et al.'s\n"
    "                       recipe), or every trailing fully connected one (fc, the\n"
    "                       default)\n"
    "  --no-reencode        do not first write every crossbar layer's weights around\n"
    "                       its stuck cells (the default does: same weights, other\n"
    "                       levels; --reencode is accepted and changes nothing)\n"
    "  --plain              retrain the layers in float alone (Yao et al.); default:\n"
    "                       chip-aware, quantized and with their tiles' stuck cells\n"
    "  --epochs E           passes over the training features (default 5)\n"
    "  --lr RATE            Adam's learning rate (default 0.0001)\n"
    "  --batch B            minibatch size (default 32)\n";

static bool parse_positive(const char *text, long *out)
{
    return parse_count(text, out) && *out > 0 && *out <= 1000000000;
}

int cmd_finetune(Args *a)
{
    const char *path = NULL, *out = NULL, *train_text = NULL, *epochs_text = NULL, *lr_text = NULL, *batch_text = NULL, *layers_text = NULL;
    bool plain = false, reencode = true;
    Chip chip = {.sets = calloc((size_t)a->argc + 1, sizeof(char *))};
    DatasetOptions dso = {0};
    while (a->i < a->argc && !a->failed) {
        if (chip_option(a, &chip) || dataset_option(a, &dso))
            continue;
        if (opt_flag(a, "--plain"))
            plain = true;
        else if (opt_flag(a, "--reencode"))
            reencode = true;
        else if (opt_flag(a, "--no-reencode"))
            reencode = false;
        else if (!opt_value(a, "-o", &out) && !opt_value(a, "--train-limit", &train_text) &&
                 !opt_value(a, "--epochs", &epochs_text) && !opt_value(a, "--lr", &lr_text) &&
                 !opt_value(a, "--batch", &batch_text) && !opt_value(a, "--layers", &layers_text) && !a->failed)
            opt_positional(a, &path);
    }
    long train_limit = 0, epochs = 0, batch = 0, layers = FINETUNE_LAYERS_FC;
    double lr = 0;
    char *end = NULL;
    if (!a->failed && !path)
        usage_error(a, "%s", "missing PROGRAM.xbp");
    if (!a->failed && !has_suffix(path, ".xbp"))
        usage_error(a, "fine-tuning needs a compiled program (.xbp), not %s", path);
    if (!a->failed && !out)
        usage_error(a, "%s", "missing -o OUT.xbp");
    if (!a->failed && !dso.spec)
        usage_error(a, "%s", "missing --dataset SPEC");
    if (!a->failed && dso.split)
        usage_error(a, "%s", "finetune reads both splits: --split does not apply");
    if (!a->failed && !train_text)
        usage_error(a, "%s", "missing --train-limit N");
    if (!a->failed && !parse_positive(train_text, &train_limit))
        usage_error(a, "--train-limit takes a positive count, not '%s'", train_text);
    if (!a->failed && epochs_text && !parse_positive(epochs_text, &epochs))
        usage_error(a, "--epochs takes a positive count, not '%s'", epochs_text);
    if (!a->failed && batch_text && !parse_positive(batch_text, &batch))
        usage_error(a, "--batch takes a positive count, not '%s'", batch_text);
    if (!a->failed && layers_text && strcmp(layers_text, "fc") == 0)
        layers = FINETUNE_LAYERS_FC;
    else if (!a->failed && layers_text && (!parse_positive(layers_text, &layers) || layers > FINETUNE_MAX_LAYERS))
        usage_error(a, "--layers takes a count from 1 to 16 or 'fc', not '%s'", layers_text);
    if (!a->failed && lr_text && (lr = strtod(lr_text, &end), end == lr_text || *end || !(lr > 0 && lr < 10)))
        usage_error(a, "--lr takes a rate in (0, 10), not '%s'", lr_text);
    chip_check(a, &chip);
    if (a->failed) {
        free(chip.sets);
        return EXIT_USAGE;
    }
    Arena *arena = arena_new();

    Diags diags;
    diags_init(&diags, arena);
    Loc loc = {.file = path};
    Dataset train, test;
    Outputs *outs = outputs_new(arena, &diags);
    FILE *text = strcmp(out, "-") == 0 ? stderr : stdout;
    Program *p = outputs_add(outs, out) ? chip_program(arena, path, &chip, &diags) : NULL;
    bool ok = p != NULL;
    free(chip.sets);
    const char *dataset = dso.spec;
    DatasetOptions train_dso = dso;
    train_dso.limit = train_limit;
    train_dso.offset = 0;
    const Type *input = ok && p->n_inputs == 1 ? &p->buffers[p->inputs[0]].type : NULL;
    int n_classes = ok && p->n_outputs >= 1 ? (int)type_numel(&p->buffers[p->outputs[0]].type) : 0;
    ok = ok && dataset_open(arena, &train_dso, "train", true, input, n_classes, &train, &diags) &&
         dataset_open(arena, &dso, "test", true, input, n_classes, &test, &diags);
    if (ok && (p->n_inputs != 1 ||
               type_numel(&p->buffers[p->inputs[0]].type) != type_numel(&train.image_type))) {
        diag_error(&diags, &loc, "the program's input is not one %s image %s", dataset,
                   type_format(arena, &train.image_type));
        ok = false;
    }
    if (!ok)
        return finish(arena, &diags, outputs_commit(outs, false));

    int n_train = train.count, n_test = test.count;
    FinetuneOptions options = {.layers = (int)layers, .epochs = (int)epochs, .batch = (int)batch,
                               .learning_rate = lr, .plain = plain, .reencode = reencode};
    FinetuneReport report;
    double before = finetune_accuracy(p, chip.seed, test.images, test.labels, n_test), after = 0;
    ok = finetune_program(p, chip.seed, train.images, train.labels, n_train, &options, &report, &diags) &&
         program_write(p, outs, out, &diags);
    if (!outputs_commit(outs, ok))
        return finish(arena, &diags, false);
    after = finetune_accuracy(p, chip.seed, test.images, test.labels, n_test);
    fprintf(text, "layer%s ", report.n_layers > 1 ? "s" : "");
    for (int i = 0; i < report.n_layers; i++)
        fprintf(text, "%s%s", i ? ", " : "", report.layers[i]);
    fprintf(text, ": %lld features, %lld classes, %d training images, %lld of %lld weights changed\n",
            (long long)report.features, (long long)report.classes, report.images,
            (long long)report.weights_changed, (long long)report.weights);
    fprintf(text, "stuck cells touch %lld weights of the layer%s; training %s\n", (long long)report.stuck_weights,
            report.n_layers > 1 ? "s" : "", options.plain ? "in float" : "chip-aware (quantized, stuck cells)");
    if (report.reencoded)
        fprintf(text, "weights written around their stuck cells: %lld\n", (long long)report.reencoded);
    fprintf(text, "train: accuracy %.4f -> %.4f, loss %.4f -> %.4f\n", report.train_before, report.train_after,
            report.loss_before, report.loss_after);
    fprintf(text, "before: %.4f (%d test images)\n", before, n_test);
    fprintf(text, "after: %.4f (%d test images)\n", after, n_test);
    fprintf(text, "tuned for the chip of seed %llu: %s (recorded in the program, xbarc explain)\n",
            (unsigned long long)p->tuned_seed, *p->tuned_chip ? p->tuned_chip : "ideal");
    return finish(arena, &diags, true);
}
