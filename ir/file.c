/* file.c: writing an output file so that a failure never leaves part of it.
 *
 * Every file xbarc writes (IR, programs, tensors, reports, plots) goes to a
 * temporary name beside its destination and is renamed into place only once
 * it is complete; on any error the temporary is removed. */
#include "ir.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool atomic_open(AtomicFile *file, const char *path, Arena *arena, Diags *diags)
{
    Loc loc = {.file = arena_strdup(arena, path)};
    file->path = loc.file;
    file->tmp = arena_printf(arena, "%s.tmpXXXXXX", path);
    int fd = mkstemp(file->tmp);
    file->f = fd < 0 ? NULL : fdopen(fd, "w");
    if (!file->f) {
        diag_error(diags, &loc, "cannot write: %s", strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(file->tmp);
        }
        return false;
    }
    mode_t mask = umask(0);     /* mkstemp's 0600, widened to what open() would give */
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    return true;
}

bool atomic_close(AtomicFile *file, bool ok, Diags *diags)
{
    ok = !ferror(file->f) && ok;
    ok = fclose(file->f) == 0 && ok;
    if (ok && rename(file->tmp, file->path) != 0)
        ok = false;
    if (!ok) {
        Loc loc = {.file = file->path};
        diag_error(diags, &loc, "cannot write: %s", errno ? strerror(errno) : "write failed");
        unlink(file->tmp);
    }
    return ok;
}

bool write_text_atomic(const char *path, const char *text, size_t length, Arena *arena, Diags *diags)
{
    AtomicFile file;
    if (!atomic_open(&file, path, arena, diags))
        return false;
    return atomic_close(&file, fwrite(text, 1, length, file.f) == length, diags);
}
