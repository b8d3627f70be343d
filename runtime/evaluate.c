/* evaluate.c: top-1 accuracy of a program or a graph over a labelled image set,
 * on several threads, with outputs that do not depend on how many.
 *
 * Each worker owns an executor: a Sim made with the same chip seed (so every
 * worker simulates the same programmed chip: the programming draws are pure
 * functions of the seed and the cell, runtime/noise.h), or an Interp.  The
 * workers take the images in order, each the next one not yet taken (a
 * shared counter), so a faster core runs more of them (on a VM one virtual
 * CPU may be slower than the other: docs/benchmarks.md); before image i the
 * Sim's read-noise stream is set to i, so image i's reads depend only on
 * (seed, i) and not on which worker ran it, nor on what that worker ran
 * before.  Each worker writes
 * image i's prediction (and logits) at index i and sums its own counters; the
 * caller's thread reduces them afterwards (integer sums, in worker order).  So
 * the result is the same bits for any thread count, which the unit test
 * checks.  Worker 0 is the calling thread: one thread creates no other.
 *
 * The shared mutable state is the next image (atomic) and the progress
 * count, behind a mutex, only when a progress callback is given; what it
 * reports along the way (accuracy so far) depends on the scheduling, the
 * final result does not. */
#include "runtime/metrics.h"
#include "runtime/program.h"
#include "runtime/runtime.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const Program *program;     /* one of these two */
    const Graph *graph;
    const EvalSet *set;
    const EvalOptions *options;
    EvalResult *result;
    atomic_int next;            /* the next image no worker has taken */
    atomic_bool stop;           /* a worker's chip failed or check mode stopped it: take no more */
    pthread_mutex_t lock;       /* progress only */
    int done, correct;
    int check_image;            /* the first image where check mode found a difference, or -1 */
    const char *chip_error;     /* a worker's chip could not be programmed, or NULL */
} Job;

typedef struct {
    Job *job;
    SimCounters *counters;      /* [n_instrs] of this worker, when asked for */
    int check_image;            /* where check mode stopped it (sim_run printed why), or -1 */
    const char *chip_error;     /* its chip could not be programmed (sim_chip_error), or NULL */
} Worker;

int top_class(const float *v, int64_t n)
{
    int best = 0;
    for (int64_t i = 1; i < n; i++)
        if (v[i] > v[best])
            best = (int)i;
    return best;
}

static void report_progress(Job *job, bool correct)
{
    const EvalOptions *o = job->options;
    if (!o->progress)
        return;
    pthread_mutex_lock(&job->lock);
    job->done++;
    job->correct += correct;
    o->progress(o->progress_context, job->done, job->set->count, job->correct);
    pthread_mutex_unlock(&job->lock);
}

/* Stores image i's output and reports it. */
static void record(Job *job, int i, const float *out)
{
    EvalResult *r = job->result;
    int top = top_class(out, r->n_logits);
    r->predictions[i] = top;
    if (r->ranks)
        r->ranks[i] = label_rank(out, r->n_logits, job->set->labels[i]);
    if (r->logits)
        memcpy(r->logits + (size_t)i * (size_t)r->n_logits, out, (size_t)r->n_logits * sizeof(float));
    report_progress(job, job->set->labels && top == job->set->labels[i]);
}

static void *run_worker(void *arg)
{
    Worker *w = arg;
    Job *job = w->job;
    const EvalSet *set = job->set;
    size_t image_bytes = (size_t)set->image_numel * sizeof(float);
    if (job->program) {
        Sim *sim = sim_new_seeded(job->program, job->options->seed);
        w->chip_error = sim_chip_error(sim);
        for (int i; !w->chip_error && !atomic_load(&job->stop) && (i = atomic_fetch_add(&job->next, 1)) < set->count;) {
            memcpy(sim_input(sim, 0), set->images + (size_t)i * (size_t)set->image_numel, image_bytes);
            sim_set_stream(sim, (uint64_t)i);
            sim_run(sim);
            if (sim_check_error(sim)) {     /* check mode found a difference: the rest is moot */
                w->check_image = i;     /* the first: every image before i was taken before it */
                atomic_store(&job->stop, true);
                break;
            }
            if (w->counters) {
                for (int k = 0; k < job->program->n_instrs; k++) {
                    SimCounters c = sim_instr_counters(sim, k);
                    w->counters[k].reads += c.reads;
                    w->counters[k].conversions += c.conversions;
                    w->counters[k].saturated += c.saturated;
                }
            }
            record(job, i, sim_output(sim, 0));
        }
        if (w->chip_error)
            atomic_store(&job->stop, true);
        if (w->chip_error)      /* the Sim's arena is about to go */
            w->chip_error = strdup(w->chip_error);
        sim_free(sim);
    } else {
        Interp *interp = interp_new(job->graph);
        for (int i; (i = atomic_fetch_add(&job->next, 1)) < set->count;) {
            memcpy(interp_input(interp, 0), set->images + (size_t)i * (size_t)set->image_numel, image_bytes);
            interp_run(interp);
            record(job, i, interp_output(interp, 0));
        }
        interp_free(interp);
    }
    return NULL;
}

/* Runs the workers and reduces their results into job->result. */
static void run_job(Arena *arena, Job *job)
{
    const EvalSet *set = job->set;
    const EvalOptions *o = job->options;
    EvalResult *r = job->result;
    int n_instrs = job->program && o->counters ? job->program->n_instrs : 0;
    r->count = set->count;
    r->predictions = arena_array(arena, (size_t)set->count + 1, sizeof(int));
    r->ranks = set->labels ? arena_array(arena, (size_t)set->count + 1, sizeof(int)) : NULL;
    r->logits = o->keep_logits ? arena_array(arena, (size_t)set->count * (size_t)r->n_logits + 1, sizeof(float))
                               : NULL;
    int n = o->threads > 1 ? o->threads : 1;
    if (n > set->count)
        n = set->count > 0 ? set->count : 1;
    Worker *workers = arena_array(arena, (size_t)n, sizeof(Worker));
    for (int w = 0; w < n; w++) {
        workers[w] = (Worker){.job = job, .check_image = -1};
        if (n_instrs)
            workers[w].counters = arena_array(arena, (size_t)n_instrs, sizeof(SimCounters));
    }
    atomic_init(&job->next, 0);
    atomic_init(&job->stop, false);
    pthread_mutex_init(&job->lock, NULL);
    pthread_t *threads = arena_array(arena, (size_t)n, sizeof(pthread_t));
    int started = 1;
    for (; started < n; started++)
        if (pthread_create(&threads[started], NULL, run_worker, &workers[started]) != 0)
            break;
    /* Should a thread fail to start, the calling thread takes the images it
     * would have (the others' loops then find none left). */
    for (int w = 0; w < n; w++)
        if (w == 0 || w >= started)
            run_worker(&workers[w]);
    for (int w = 1; w < started; w++)
        pthread_join(threads[w], NULL);
    pthread_mutex_destroy(&job->lock);
    job->check_image = -1;
    job->chip_error = NULL;
    for (int w = 0; w < n; w++) {
        if (workers[w].chip_error && !job->chip_error)
            job->chip_error = arena_printf(arena, "%s", workers[w].chip_error);
        free((char *)workers[w].chip_error);
    }
    for (int w = 0; w < n; w++)
        if (workers[w].check_image >= 0 && (job->check_image < 0 || workers[w].check_image < job->check_image))
            job->check_image = workers[w].check_image;

    r->correct = 0;
    if (set->labels)
        for (int i = 0; i < set->count; i++)
            r->correct += r->predictions[i] == set->labels[i];
    r->accuracy = set->count ? (double)r->correct / set->count : 0.0;
    r->n_instrs = n_instrs;
    r->instr_counters = n_instrs ? arena_array(arena, (size_t)n_instrs, sizeof(SimCounters)) : NULL;
    memset(&r->total, 0, sizeof r->total);
    for (int w = 0; w < n && n_instrs; w++) {
        for (int k = 0; k < n_instrs; k++) {
            SimCounters c = workers[w].counters[k];
            r->instr_counters[k].reads += c.reads;
            r->instr_counters[k].conversions += c.conversions;
            r->instr_counters[k].saturated += c.saturated;
            r->total.reads += c.reads;
            r->total.conversions += c.conversions;
            r->total.saturated += c.saturated;
        }
    }
}

/* The model's one input must hold an image of the set (the commands say so
 * with the file's name first; this guards the library call). */
static bool check_shape(int n_inputs, const Type *input, int n_outputs, const EvalSet *set, Diags *diags)
{
    if (n_inputs != 1 || !input || type_numel(input) != set->image_numel) {
        diag_error(diags, NULL, "the model's input must hold one image of %lld values (it has %d input%s)",
                   (long long)set->image_numel, n_inputs, n_inputs == 1 ? "" : "s");
        return false;
    }
    if (n_outputs < 1) {
        diag_error(diags, NULL, "the model has no output to take the top-1 class of");
        return false;
    }
    return true;
}

bool evaluate_program(Arena *arena, const Program *program, const EvalSet *set, const EvalOptions *options,
                      EvalResult *result, Diags *diags)
{
    memset(result, 0, sizeof *result);
    const Type *input = program->n_inputs == 1 ? &program->buffers[program->inputs[0]].type : NULL;
    if (!check_shape(program->n_inputs, input, program->n_outputs, set, diags))
        return false;
    result->n_logits = type_numel(&program->buffers[program->outputs[0]].type);
    /* a Sim per thread: the reader held one against the memory limit */
    int threads = options->threads > 1 ? (options->threads < set->count ? options->threads : set->count) : 1;
    if (threads > 1 && !memory_check(sim_memory_bound(program), (uint64_t)threads,
                                     arena_printf(arena, "simulating the program on %d threads", threads), NULL, diags))
        return false;
    Job job = {.program = program, .set = set, .options = options, .result = result};
    run_job(arena, &job);
    if (job.chip_error) {
        diag_error(diags, NULL, "programming the chip: %s", job.chip_error);
        return false;
    }
    if (job.check_image >= 0) {
        diag_error(diags, NULL, "check mode: the simulator disagrees with the integer reference on image %d",
                   job.check_image);
        return false;
    }
    return true;
}

bool evaluate_graph(Arena *arena, const Graph *g, const EvalSet *set, const EvalOptions *options,
                    EvalResult *result, Diags *diags)
{
    memset(result, 0, sizeof *result);
    if (!check_shape(g->n_inputs, g->n_inputs == 1 ? &g->inputs[0]->type : NULL, g->n_outputs, set, diags))
        return false;
    int threads = options->threads > 1 ? options->threads : 1;     /* as run_job counts them */
    if (threads > set->count)
        threads = set->count > 0 ? set->count : 1;
    if (!interp_fits(g, threads, diags))
        return false;
    result->n_logits = type_numel(&g->outputs[0]->type);
    Job job = {.graph = g, .set = set, .options = options, .result = result};
    run_job(arena, &job);
    return true;
}
