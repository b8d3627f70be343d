/* sweep_slurm.c: a sweep as Slurm jobs (docs/slurm.md, docs/sweep.md 4).
 *
 * The rows are cut into shards (contiguous ranges of the execution order,
 * sweep_shard_range); one `sbatch --array` job runs `xbarc sweep --shard K`
 * on each, which appends its rows to a rows file of the run directory, and a
 * merge job that depends on the array (afterany: it runs when every task has
 * ended, and fails naming what is missing) writes the -o files.  xbarc is
 * called by the path it was started from, the run directory by its absolute
 * path: the nodes must share both.  The jobs' ids and the shard count are in
 * DIR/slurm/jobs, for --status and --resume. */
#define _XOPEN_SOURCE 700   /* realpath */
#include "cli/sweep.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs argv (found on PATH), its standard output into out (at most size - 1
 * bytes, NUL-ended); the exit status, or -1 when it could not run. */
static int run_command(char *const *argv, char *out, size_t size)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execvp(argv[0], argv);
        fprintf(stderr, "xbarc sweep: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    size_t n = 0;
    for (ssize_t got; pid > 0 && (got = read(fds[0], out + n, size - 1 - n)) != 0;) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            break;
        n += (size_t)got;
        if (n == size - 1) {            /* the rest is read and dropped */
            char drop[256];
            while (read(fds[0], drop, sizeof drop) > 0)
                ;
            break;
        }
    }
    out[n] = 0;
    close(fds[0]);
    int status;
    if (pid < 0)
        return -1;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* "12345" or "12345;cluster" from sbatch --parsable: the id alone. */
static char *job_id(Arena *arena, const char *text)
{
    size_t n = strspn(text, "0123456789");
    return n ? arena_printf(arena, "%.*s", (int)n, text) : NULL;
}

static bool write_text(const char *path, const char *text, bool executable, Diags *diags)
{
    FILE *f = fopen(path, "w");
    bool ok = f && fputs(text, f) >= 0;
    ok = f && fclose(f) == 0 && ok;
    if (ok && executable)
        ok = chmod(path, 0755) == 0;
    if (!ok) {
        Loc loc = {.file = path};
        diag_error(diags, &loc, "cannot write: %s", strerror(errno));
    }
    return ok;
}

/* A shell word: single-quoted. */
static const char *quote(Arena *arena, const char *text)
{
    const char *q = "'";
    for (const char *c = text; *c; c++)
        q = *c == '\'' ? arena_printf(arena, "%s'\\''", q) : arena_printf(arena, "%s%c", q, *c);
    return arena_printf(arena, "%s'", q);
}

/* sbatch with the common options, then `extra` and the script; the job id. */
static char *submit(const SweepRun *run, const char *dir, const char *name, const char *const *extra, int n_extra,
                    const char *script, Arena *arena, Diags *diags)
{
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        snprintf(cwd, sizeof cwd, ".");
    const char *argv[64 + 16];
    int n = 0;
    argv[n++] = "sbatch";
    argv[n++] = "--parsable";
    argv[n++] = arena_printf(arena, "--job-name=xbarc-%s", name);
    argv[n++] = arena_printf(arena, "--chdir=%s", cwd);
    argv[n++] = arena_printf(arena, "--output=%s/slurm/%s", dir,
                             strcmp(name, "shard") == 0 ? "shard-%A_%a.out" : "merge-%j.out");
    if (run->partition)
        argv[n++] = arena_printf(arena, "--partition=%s", run->partition);
    if (run->time_limit)
        argv[n++] = arena_printf(arena, "--time=%s", run->time_limit);
    if (run->mem)
        argv[n++] = arena_printf(arena, "--mem=%s", run->mem);
    for (int i = 0; i < run->n_sbatch_args && n < 64; i++)
        argv[n++] = run->sbatch_args[i];
    for (int i = 0; i < n_extra; i++)
        argv[n++] = extra[i];
    argv[n++] = script;
    argv[n] = NULL;
    char out[4096];
    int status = run_command((char *const *)argv, out, sizeof out);
    char *id = status == 0 ? job_id(arena, out) : NULL;
    if (!id) {
        const char *line = "";
        for (int i = 0; i < n; i++)
            line = arena_printf(arena, "%s%s%s", line, i ? " " : "", argv[i]);
        diag_error(diags, NULL, "sbatch failed (status %d%s%s): %s", status, *out ? ", said: " : "", out, line);
    }
    return id;
}

bool sweep_slurm_submit(const SweepSpec *s, const SweepRun *run, const char *dir_given, char **merge_args,
                        int n_merge_args, const char *first_output, Arena *arena, Diags *diags)
{
    char *real = realpath(dir_given, NULL), exe[PATH_MAX];
    const char *dir = real ? arena_strdup(arena, real) : dir_given;
    free(real);
    ssize_t n_exe = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n_exe <= 0) {
        diag_error(diags, NULL, "cannot tell where xbarc is (/proc/self/exe): %s", strerror(errno));
        return false;
    }
    exe[n_exe] = 0;
    const char *slurm = arena_printf(arena, "%s/slurm", dir);
    if (mkdir(slurm, 0777) != 0 && errno != EEXIST) {
        Loc loc = {.file = slurm};
        diag_error(diags, &loc, "cannot make: %s", strerror(errno));
        return false;
    }
    int64_t units = s->n_points * s->seeds;
    int shards = run->shards ? run->shards : sweep_default_shards(s);
    shards = units < shards ? (int)units : shards;

    /* the shards to run: all, or (--resume) those with rows missing */
    bool *done = arena_array(arena, (size_t)units, sizeof(bool));
    ResultTable table;
    if (!sweep_dir_rows(arena, dir, s, &table, done, diags))
        return false;
    const char *list = "";
    int pending = 0;
    for (int k = 0; k < shards; k++) {
        int64_t first, end;
        sweep_shard_range(s, k, shards, &first, &end);
        bool complete = true;
        for (int64_t u = first; u < end && complete; u++) {
            int64_t point;
            int seed;
            sweep_unit(s, u, &point, &seed);
            complete = done[point * s->seeds + seed - 1];
        }
        if (!complete || !run->resume) {
            list = arena_printf(arena, "%s%s%d", list, pending ? "," : "", k);
            pending++;
        }
    }
    const char *shard_script = arena_printf(arena, "%s/shard.sh", slurm);
    const char *merge_script = arena_printf(arena, "%s/merge.sh", slurm);
    const char *merge = arena_printf(arena, "#!/bin/sh\n# xbarc sweep: the merge of the shards' rows\nexec %s sweep --merge %s",
                                     quote(arena, exe), quote(arena, dir));
    for (int i = 0; i < n_merge_args; i++)
        merge = arena_printf(arena, "%s %s", merge, quote(arena, merge_args[i]));
    merge = arena_printf(arena, "%s\n", merge);
    const char *shard = arena_printf(arena,
                                     "#!/bin/sh\n# xbarc sweep: shard $SLURM_ARRAY_TASK_ID of %d\n"
                                     "exec %s sweep --shard \"$SLURM_ARRAY_TASK_ID\" --shards %d --threads %d --run-dir %s\n",
                                     shards, quote(arena, exe), shards, run->threads, quote(arena, dir));
    if (!write_text(shard_script, shard, true, diags) || !write_text(merge_script, merge, true, diags))
        return false;
    char *array_id = NULL;
    if (pending) {
        const char *array = arena_printf(arena, "--array=%s%s%s", list, run->array_limit ? "%" : "",
                                         run->array_limit ? run->array_limit : "");
        const char *extra[] = {array};
        array_id = submit(run, dir, "shard", extra, 1, shard_script, arena, diags);
        if (!array_id)
            return false;
    }
    const char *dependency = array_id ? arena_printf(arena, "--dependency=afterany:%s", array_id) : NULL;
    const char *extra[3];
    int n_extra = 0;
    if (dependency)
        extra[n_extra++] = dependency;
    if (run->wait)
        extra[n_extra++] = "--wait";
    const char *record = arena_printf(arena, "%s/jobs", slurm);
    FILE *jobs = fopen(record, "a");
    if (jobs) {
        fprintf(jobs, "shards %d\n", shards);
        if (array_id)
            fprintf(jobs, "array %s %s\n", array_id, list);
        fclose(jobs);
    }
    fprintf(stderr, "xbarc sweep: %d of %d shards submitted%s%s (%lld rows), run directory %s\n", pending, shards,
            array_id ? " as job " : "", array_id ? array_id : "", (long long)units, dir);
    if (run->wait)
        fprintf(stderr, "xbarc sweep: waiting for the merge job\n");
    char *merge_id = submit(run, dir, "merge", extra, n_extra, merge_script, arena, diags);
    if ((jobs = fopen(record, "a"))) {
        if (merge_id)
            fprintf(jobs, "merge %s\n", merge_id);
        fclose(jobs);
    }
    if (!merge_id) {
        if (run->wait)
            diag_note(diags, NULL, "the merge job's log is %s/merge-*.out; --status %s tells what is missing, "
                      "--resume submits it again", slurm, dir);
        return false;
    }
    if (run->wait)
        printf("%s\n", first_output ? first_output : dir);
    else
        fprintf(stderr, "xbarc sweep: merge job %s writes the results; xbarc sweep --status %s\n", merge_id, dir);
    return true;
}

int sweep_status(const char *dir, Arena *arena, Diags *diags)
{
    SweepSpec s;
    char *real = realpath(dir, NULL);
    const char *where = real ? arena_strdup(arena, real) : dir;
    free(real);
    if (!sweep_dir_load(arena, where, &s, diags))
        return 1;
    int64_t units = s.n_points * s.seeds, made = 0;
    bool *done = arena_array(arena, (size_t)units, sizeof(bool));
    ResultTable table;
    if (!sweep_dir_rows(arena, where, &s, &table, done, diags))
        return 1;
    for (int64_t u = 0; u < units; u++)
        made += done[u];
    printf("%s: %lld of %lld rows (%.1f%%)\n", where, (long long)made, (long long)units,
           units ? 100.0 * (double)made / (double)units : 100.0);
    /* shards and jobs, when it went through Slurm */
    FILE *jobs = fopen(arena_printf(arena, "%s/slurm/jobs", where), "r");
    int shards = 0;
    char line[4096], last_array[64] = "", last_merge[64] = "";
    while (jobs && fgets(line, sizeof line, jobs)) {
        if (sscanf(line, "shards %d", &shards) == 1)
            continue;
        sscanf(line, "array %63s", last_array);
        sscanf(line, "merge %63s", last_merge);
    }
    if (jobs)
        fclose(jobs);
    if (shards > 0) {
        int complete = 0;
        for (int k = 0; k < shards; k++) {
            int64_t first, end;
            sweep_shard_range(&s, k, shards, &first, &end);
            bool all = true;
            for (int64_t u = first; u < end && all; u++) {
                int64_t point;
                int seed;
                sweep_unit(&s, u, &point, &seed);
                all = done[point * s.seeds + seed - 1];
            }
            complete += all;
        }
        printf("shards: %d of %d complete\n", complete, shards);
        for (int j = 0; j < 2; j++) {
            const char *id = j ? last_merge : last_array;
            if (!*id)
                continue;
            char out[4096];
            char *argv[] = {"squeue", "-h", "-j", (char *)id, "-o", "%T", NULL};
            int status = run_command(argv, out, sizeof out);
            int pending = 0, running = 0;
            for (char *t = strtok(out, "\n"); t; t = strtok(NULL, "\n")) {
                pending += strcmp(t, "PENDING") == 0;
                running += strcmp(t, "RUNNING") == 0;
            }
            printf("%s job %s: %s\n", j ? "merge" : "array", id,
                   status != 0 ? "not known to squeue (ended)"
                   : pending + running ? arena_printf(arena, "%d pending, %d running", pending, running)
                                       : "ended");
        }
    }
    return 0;
}
