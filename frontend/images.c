/* images.c: PNG and JPEG files as model inputs, the way torchvision reads
 * them: ImageFolder's layout (one sub-folder per class, classes and files in
 * sorted order), PIL's decoding and conversions, then
 *
 *   Compose([Resize(N), CenterCrop(M), ToTensor(), Normalize(mean, std)])
 *
 * PNGs are decoded by libpng (palette and low bit depths expanded, 16-bit
 * samples cut to their high byte, alpha dropped, no gamma correction: as PIL
 * does), JPEGs by libjpeg-turbo (the library PIL itself uses, with its
 * defaults: the decoded bytes are the same).  A model with one input channel
 * gets PIL's convert("L") (L = (19595 R + 38470 G + 7471 B + 2^15) >> 16), one
 * with three gets convert("RGB").  Resize is PIL's bilinear resampling (a
 * triangle filter widened by the scale when shrinking, 22-bit fixed-point
 * weights, each pass rounded to bytes), the shorter side to N as
 * torchvision's Resize(int) does; CenterCrop rounds its offsets as
 * torchvision's (Python's round, half to even).  Normalize is dataset.c's,
 * for every format.  docs/datasets.md. */
#include "frontend/dataset_formats.h"

#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>
#include <png.h>

/* ---- decoding ---- */

typedef struct {
    const uint8_t *data;
    size_t size, at;
} PngSource;

static void png_read_memory(png_structp png, png_bytep out, png_size_t n)
{
    PngSource *src = png_get_io_ptr(png);
    if (n > src->size - src->at)
        png_error(png, "file cut short");
    memcpy(out, src->data + src->at, n);
    src->at += n;
}

static void png_on_error(png_structp png, png_const_charp message)
{
    char *why = png_get_error_ptr(png);
    snprintf(why, 200, "%s", message);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp message)
{
    (void)png;
    (void)message;
}

/* PNG to 8-bit gray (1 channel) or RGB (3), as libpng gives it. */
static bool decode_png(Arena *arena, const char *path, const uint8_t *bytes, size_t size, Image8 *out, Diags *diags)
{
    Loc loc = {.file = path};
    char why[200] = "";
    PngSource src = {.data = bytes, .size = size};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, why, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        diag_error(diags, &loc, "out of memory");
        return false;
    }
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(rows);
        diag_error(diags, &loc, "corrupt PNG file: %s", why);
        return false;
    }
    png_set_read_fn(png, &src, png_read_memory);
    png_read_info(png, info);
    png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
    png_set_expand(png);
    png_set_strip_16(png);
    png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int channels = png_get_channels(png, info);
    if (!memory_check((uint64_t)width * height, (uint64_t)channels, "the decoded image", &loc, diags)) {
        png_destroy_read_struct(&png, &info, NULL);
        return false;
    }
    out->width = (int)width;
    out->height = (int)height;
    out->channels = channels;
    out->pixels = arena_array(arena, (size_t)width * height, (size_t)channels);
    rows = malloc(height * sizeof *rows);
    if (!rows)
        png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < height; y++)
        rows[y] = out->pixels + (size_t)y * width * (size_t)channels;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    return true;
}

typedef struct {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    char why[JMSG_LENGTH_MAX];
} JpegError;

static void jpeg_on_error(j_common_ptr cinfo)
{
    JpegError *e = (JpegError *)cinfo->err;
    cinfo->err->format_message(cinfo, e->why);
    longjmp(e->jump, 1);
}

static void jpeg_on_message(j_common_ptr cinfo, int level)
{
    /* corrupt-data warnings (level -1) make the file corrupt: PIL raises on a truncated file too */
    if (level < 0 && cinfo->err->num_warnings++ == 0)
        jpeg_on_error(cinfo);
}

static bool decode_jpeg(Arena *arena, const char *path, const uint8_t *bytes, size_t size, Image8 *out,
                        Diags *diags)
{
    Loc loc = {.file = path};
    struct jpeg_decompress_struct cinfo;
    JpegError err;
    cinfo.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = jpeg_on_error;
    err.mgr.emit_message = jpeg_on_message;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        diag_error(diags, &loc, "corrupt JPEG file: %s", err.why);
        return false;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, bytes, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        jpeg_destroy_decompress(&cinfo);
        diag_error(diags, &loc, "a CMYK JPEG (only grayscale and color ones are read)");
        return false;
    }
    cinfo.out_color_space = cinfo.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_calc_output_dimensions(&cinfo);
    if (!memory_check((uint64_t)cinfo.output_width * cinfo.output_height, (uint64_t)cinfo.output_components,
                      "the decoded image", &loc, diags)) {
        jpeg_destroy_decompress(&cinfo);
        return false;
    }
    jpeg_start_decompress(&cinfo);
    out->width = (int)cinfo.output_width;
    out->height = (int)cinfo.output_height;
    out->channels = cinfo.output_components;
    out->pixels = arena_array(arena, (size_t)out->width * (size_t)out->height, (size_t)out->channels);
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = out->pixels + (size_t)cinfo.output_scanline * (size_t)out->width * (size_t)out->channels;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    return true;
}

bool image_decode(Arena *arena, const char *path, const uint8_t *bytes, size_t size, int channels, Image8 *out,
                  Diags *diags)
{
    Loc loc = {.file = path};
    bool ok;
    if (size >= 8 && memcmp(bytes, "\x89PNG\r\n\x1a\n", 8) == 0)
        ok = decode_png(arena, path, bytes, size, out, diags);
    else if (size >= 3 && bytes[0] == 0xff && bytes[1] == 0xd8 && bytes[2] == 0xff)
        ok = decode_jpeg(arena, path, bytes, size, out, diags);
    else {
        diag_error(diags, &loc, "not a PNG or JPEG file (its first bytes are neither's)");
        return false;
    }
    if (!ok || out->channels == channels)
        return ok;
    size_t n = (size_t)out->width * (size_t)out->height;
    uint8_t *px = arena_array(arena, n, (size_t)channels);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = out->pixels + i * (size_t)out->channels;
        if (channels == 1)      /* PIL's convert("L") */
            px[i] = (uint8_t)((p[0] * 19595u + p[1] * 38470u + p[2] * 7471u + 0x8000u) >> 16);
        else
            px[3 * i] = px[3 * i + 1] = px[3 * i + 2] = p[0];
    }
    out->pixels = px;
    out->channels = channels;
    return true;
}

/* ---- PIL's bilinear resampling (libImaging/Resample.c, 8 bits a channel) ---- */

enum { PRECISION_BITS = 32 - 8 - 2 };

static double bilinear(double x)
{
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* The fixed-point weights of each output sample over [bounds[2i], + bounds[2i+1]). */
static int precompute(int in_size, int out_size, int **weights, int **bounds)
{
    double scale = (double)in_size / out_size, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    double *k = malloc((size_t)ksize * sizeof(double));
    *weights = calloc((size_t)out_size * (size_t)ksize, sizeof(int));
    *bounds = malloc((size_t)out_size * 2 * sizeof(int));
    for (int xx = 0; xx < out_size && k && *weights && *bounds; xx++) {
        double center = (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0)
            xmin = 0;
        if (xmax > in_size)
            xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            k[x] = bilinear((x + xmin - center + 0.5) * ss);
            ww += k[x];
        }
        for (int x = 0; x < xmax; x++) {
            double w = ww != 0.0 ? k[x] / ww : k[x];
            (*weights)[xx * ksize + x] = (int)(w < 0 ? -0.5 + w * (1 << PRECISION_BITS)
                                                     : 0.5 + w * (1 << PRECISION_BITS));
        }
        (*bounds)[2 * xx] = xmin;
        (*bounds)[2 * xx + 1] = xmax;
    }
    free(k);
    return ksize;
}

static uint8_t clip8(int64_t v)
{
    if (v >= (int64_t)1 << PRECISION_BITS << 8)
        return 255;
    return v <= 0 ? 0 : (uint8_t)(v >> PRECISION_BITS);
}

/* One pass: along x (horizontal) or y, to out_size samples. */
static Image8 resample(Arena *arena, const Image8 *in, int out_size, bool horizontal)
{
    int in_size = horizontal ? in->width : in->height, *w, *b;
    int ksize = precompute(in_size, out_size, &w, &b);
    Image8 out = {.width = horizontal ? out_size : in->width, .height = horizontal ? in->height : out_size,
                  .channels = in->channels};
    out.pixels = arena_array(arena, (size_t)out.width * (size_t)out.height, (size_t)in->channels);
    int c = in->channels;
    for (int y = 0; y < out.height && w && b; y++)
        for (int x = 0; x < out.width; x++) {
            int i = horizontal ? x : y, min = b[2 * i], n = b[2 * i + 1];
            const int *k = w + i * ksize;
            for (int ch = 0; ch < c; ch++) {
                int64_t ss = (int64_t)1 << (PRECISION_BITS - 1);
                for (int t = 0; t < n; t++) {
                    size_t at = horizontal ? ((size_t)y * in->width + (size_t)(min + t))
                                           : ((size_t)(min + t) * in->width + (size_t)x);
                    ss += (int64_t)in->pixels[at * c + ch] * k[t];
                }
                out.pixels[((size_t)y * out.width + x) * c + ch] = clip8(ss);
            }
        }
    free(w);
    free(b);
    return out;
}

/* ---- preprocessing ---- */

bool image_preprocess(DataLoad *d, const Image8 *decoded, const char *path, float *out)
{
    Loc loc = {.file = path};
    const DatasetOptions *o = d->o;
    Image8 im = *decoded;
    if (o->resize) {
        /* torchvision's Resize(int): the shorter side to N, the other in proportion (truncated) */
        bool wide = im.width > im.height;
        int64_t shorter = wide ? im.height : im.width, longer = wide ? im.width : im.height;
        int64_t new_long = (int64_t)o->resize * longer / shorter;
        int new_w = wide ? (int)new_long : o->resize, new_h = wide ? o->resize : (int)new_long;
        if (!memory_check((uint64_t)new_w * (uint64_t)(new_h > im.height ? new_h : im.height),
                          (uint64_t)im.channels, "the resized image", &loc, d->diags))
            return false;
        if (new_w != im.width)
            im = resample(d->arena, &im, new_w, true);
        if (new_h != im.height)
            im = resample(d->arena, &im, new_h, false);
    }
    int x0 = 0, y0 = 0, w = im.width, h = im.height;
    if (o->crop) {
        if (o->crop > im.width || o->crop > im.height) {
            diag_error(d->diags, &loc, "the image is %dx%d, smaller than --center-crop %d", im.width, im.height,
                       o->crop);
            return false;
        }
        /* int(round((size - crop) / 2.0)): Python's round, half to even */
        x0 = (int)nearbyint((im.width - o->crop) / 2.0);
        y0 = (int)nearbyint((im.height - o->crop) / 2.0);
        w = h = o->crop;
    }
    const int64_t *in = d->input->dims;
    bool nchw = d->input->rank == 4;
    if (nchw ? (w != in[3] || h != in[2]) : (int64_t)w * h != d->image_numel) {
        if (nchw)
            diag_error(d->diags, &loc, "the image is %dx%d%s, the model's input %s takes %lldx%lld (--resize, "
                       "--center-crop)", w, h, o->resize || o->crop ? " after resizing and cropping" : "",
                       type_format(d->arena, d->input), (long long)in[3], (long long)in[2]);
        else
            diag_error(d->diags, &loc, "the image is %dx%d, %d elements; the model's input %s takes %lld", w, h,
                       w * h, type_format(d->arena, d->input), (long long)d->image_numel);
        return false;
    }
    int c = im.channels;
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                out[((size_t)ch * h + y) * w + x] =
                    d->scale[im.pixels[((size_t)(y0 + y) * im.width + (size_t)(x0 + x)) * c + ch]];
    return true;
}

/* ---- ImageFolder ---- */

static bool has_image_suffix(const char *name, bool *supported)
{
    const char *dot = strrchr(name, '.');
    if (!dot)
        return false;
    char ext[8];
    if (strlen(dot + 1) >= sizeof ext)
        return false;
    snprintf(ext, sizeof ext, "%s", dot + 1);
    for (char *p = ext; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    static const char *known[] = {"png", "jpg", "jpeg", "ppm", "bmp", "pgm", "tif", "tiff", "webp"};
    for (int i = 0; i < 9; i++)
        if (strcmp(ext, known[i]) == 0) {
            *supported = i < 3;
            return true;
        }
    return false;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool load_image_folder(DataLoad *d, const char *dir)
{
    Loc loc = {.file = dir};
    /* DIR/train and DIR/test (or DIR/val): a split each */
    const char *train = arena_printf(d->arena, "%s/train", dir), *test = arena_printf(d->arena, "%s/test", dir);
    const char *val = arena_printf(d->arena, "%s/val", dir);
    if (is_dir(train) || is_dir(test) || is_dir(val)) {
        dir = strcmp(d->split, "train") == 0 ? train : is_dir(test) ? test : val;
        if (!is_dir(dir)) {
            diag_error(d->diags, &loc, "no %s split here (%s)", d->split, dir);
            return false;
        }
        loc.file = dir;
    } else if (!data_no_split(d, dir)) {
        return false;
    }
    d->images = true;
    int channels = d->input->rank == 4 ? (int)d->input->dims[1] : 1;
    if (channels != 1 && channels != 3) {
        diag_error(d->diags, &loc, "images for a model input %s: %d channels (1 or 3 are read from images)",
                   type_format(d->arena, d->input), channels);
        return false;
    }
    struct dirent **classes;
    int n_classes = data_list_dir(d, dir, &classes);
    if (n_classes < 0)
        return false;
    const char **files = NULL;
    int32_t *labels = NULL;
    int64_t count = 0, cap = 0;
    int kept_classes = 0;
    bool ok = true;
    for (int k = 0; k < n_classes; k++) {
        const char *class_dir = arena_printf(d->arena, "%s/%s", dir, classes[k]->d_name);
        free(classes[k]);
        if (!ok || !is_dir(class_dir))
            continue;
        if (kept_classes >= d->n_classes) {
            Loc cloc = {.file = class_dir};
            diag_error(d->diags, &cloc, "the folder's class %d (from 0), more than the model's %d classes", kept_classes,
                       d->n_classes);
            ok = false;
            continue;
        }
        struct dirent **names;
        int n = data_list_dir(d, class_dir, &names), in_class = 0;
        ok = ok && n >= 0;
        for (int i = 0; i < n; i++) {
            bool supported = false;
            const char *path = arena_printf(d->arena, "%s/%s", class_dir, names[i]->d_name);
            if (ok && has_image_suffix(names[i]->d_name, &supported) && !is_dir(path)) {
                if (!supported) {
                    Loc floc = {.file = path};
                    diag_error(d->diags, &floc, "only PNG and JPEG images are read");
                    ok = false;
                }
                if (count == cap) {
                    cap = cap ? 2 * cap : 1024;
                    const char **more_files = realloc(files, (size_t)cap * sizeof *files);
                    files = more_files ? more_files : files;
                    int32_t *more_labels = more_files ? realloc(labels, (size_t)cap * sizeof *labels) : NULL;
                    labels = more_labels ? more_labels : labels;
                    if (!more_labels) {
                        diag_error(d->diags, &loc, "out of memory");
                        ok = false;
                        free(names[i]);
                        continue;
                    }
                }
                files[count] = path;
                labels[count++] = kept_classes;
                in_class++;
            }
            free(names[i]);
        }
        free(n >= 0 ? names : NULL);
        if (ok && in_class == 0) {
            Loc cloc = {.file = class_dir};
            diag_error(d->diags, &cloc, "no PNG or JPEG images in this class folder");
            ok = false;
        }
        kept_classes++;
    }
    free(classes);
    if (ok && kept_classes == 0)
        diag_error(d->diags, &loc, "no class folders here"), ok = false;
    ok = ok && data_alloc(d, count, dir);
    for (int64_t i = 0; ok && i < count; i++) {
        d->out->labels[i] = labels[i];
        Loc floc = {.file = files[i]};
        FileBytes bytes;
        Arena *scratch = arena_new();
        DataLoad one = *d;
        one.arena = scratch;
        Image8 im;
        ok = file_read(files[i], 0, &floc, d->diags, &bytes);
        if (ok) {
            ok = image_decode(scratch, files[i], bytes.data, bytes.size, channels, &im, d->diags) &&
                 image_preprocess(&one, &im, files[i], d->out->images + i * d->image_numel);
            file_release(&bytes);
        }
        arena_free(scratch);
    }
    free(files);
    free(labels);
    return ok;
}
