/* GIF through giflib: the header walk (frames counted without decoding,
 * limits, loop count, bands), still decode (a frame composed on the logical
 * screen by gif_frames.c: RGBA when any composed pixel can be transparent,
 * else RGB) and still encode (one frame through gif_write.c's quantising
 * writer: an exact palette when the image has at most 256 colours, else
 * giflib's median cut; alpha below 128 becomes the transparent index). */
#include <stdlib.h>
#include <string.h>

#include "gif_internal.h"

/* What the walk keeps between records. */
typedef struct walk_state {
    tsr_gif_facts *facts; /* being filled */
    int transparent;      /* the pending graphics control block's transparency flag */
    int disposal;         /* its disposal method */
    int delay_cs;         /* its delay in hundredths of a second */
    bool clears;          /* a frame before the last leaves transparent pixels when disposed */
    bool pending_clear;   /* the last frame seen does */
    bool uncovered;       /* the first frame leaves part of the screen uncovered */
    bool see_through;     /* the first frame has a transparent index */
} walk_state;

static bool sniff(const uint8_t *b, size_t len) {
    return len >= 6 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0);
}

int tsr_gif_read(GifFileType *g, GifByteType *dst, int n) {
    tsr_gif_cursor *r = g->UserData;
    size_t left = r->len - r->pos;
    size_t take = n < 0 ? 0 : (size_t)n < left ? (size_t)n : left;
    memcpy(dst, r->bytes + r->pos, take);
    r->pos += take;
    return (int)take;
}

tsr_status tsr_gif_fail(tsr_ctx *ctx, int code, const char *doing) {
    const char *msg = GifErrorString(code);
    tsr_status st = code == D_GIF_ERR_NOT_ENOUGH_MEM ? TSR_ERR_NOMEM : TSR_ERR_CORRUPT;
    return tsr_error(ctx, st, "gif: %s: %s", doing, msg ? msg : "unknown error");
}

/* Skips the LZW data of a frame without decoding it. */
static int skip_frame(GifFileType *g) {
    int code_size;
    GifByteType *block;
    if (DGifGetCode(g, &code_size, &block) == GIF_ERROR)
        return GIF_ERROR;
    while (block)
        if (DGifGetCodeNext(g, &block) == GIF_ERROR)
            return GIF_ERROR;
    return GIF_OK;
}

/* Reads an extension record: a graphics control block sets the pending
 * transparency and disposal; a NETSCAPE2.0 (or ANIMEXTS1.0) application
 * block gives the loop count. */
static tsr_status read_extension(tsr_ctx *ctx, GifFileType *g, walk_state *w) {
    int code;
    GifByteType *ext;
    if (DGifGetExtension(g, &code, &ext) == GIF_ERROR)
        return tsr_gif_fail(ctx, g->Error, "reading an extension");
    if (code == GRAPHICS_EXT_FUNC_CODE && ext && ext[0] >= 4) {
        w->transparent = ext[1] & 1;
        w->disposal = (ext[1] >> 2) & 7;
        w->delay_cs = ext[2] | ext[3] << 8;
    }
    bool loop =
        code == APPLICATION_EXT_FUNC_CODE && ext && ext[0] >= 11 &&
        (memcmp(ext + 1, "NETSCAPE2.0", 11) == 0 || memcmp(ext + 1, "ANIMEXTS1.0", 11) == 0);
    while (ext) {
        if (DGifGetExtensionNext(g, &ext) == GIF_ERROR)
            return tsr_gif_fail(ctx, g->Error, "reading an extension");
        if (loop && ext && ext[0] >= 3 && ext[1] == 1) {
            int repeats = ext[2] | ext[3] << 8; /* after the first play; 0 = forever */
            w->facts->loop_count = repeats == 0 ? 0 : repeats < 65535 ? repeats + 1 : 65535;
            loop = false;
        }
    }
    return TSR_OK;
}

/* A frame whose descriptor was just read: checks it, settles the screen
 * at the first frame, counts it against the limits and skips its data. */
static tsr_status count_frame(tsr_ctx *ctx, GifFileType *g, walk_state *w) {
    tsr_gif_facts *f = w->facts;
    const GifImageDesc *d = &g->Image;
    tsr_status st = tsr_limits_check(ctx, "gif frame", (uint64_t)d->Width, (uint64_t)d->Height, 1);
    if (st)
        return st;
    if (f->frames == 0) {
        if (f->width <= 0 || f->height <= 0)
            f->width = d->Left + d->Width, f->height = d->Top + d->Height;
        if ((st = tsr_limits_check(ctx, "gif", (uint64_t)f->width, (uint64_t)f->height, 4)))
            return st;
        w->uncovered = d->Left > 0 || d->Top > 0 || d->Width < f->width || d->Height < f->height;
    }
    f->frames++;
    if ((st = tsr_limits_check_frames(ctx, "gif", (uint64_t)f->width, (uint64_t)f->height,
                                      (uint64_t)f->frames)))
        return st;
    /* Over an opaque canvas a later frame's transparent index shows the
     * opaque pixels below; only disposal 2 (clear), or 3 after the first
     * frame (back to the empty screen), leaves transparent pixels. */
    w->clears |= w->pending_clear;
    w->pending_clear =
        w->disposal == DISPOSE_BACKGROUND || (w->disposal == DISPOSE_PREVIOUS && f->frames == 1);
    if (f->frames == 1)
        w->see_through = w->transparent != 0;
    if (f->want_delays && !(f->frames & (f->frames - 1))) { /* at 1, 2, 4, ... frames */
        int *grown = realloc(f->delays, sizeof *grown * (size_t)f->frames * 2);
        if (!grown)
            return tsr_error(ctx, TSR_ERR_NOMEM, "gif: out of memory");
        f->delays = grown;
    }
    if (f->want_delays)
        f->delays[f->frames - 1] = w->delay_cs * 10;
    w->transparent = 0, w->disposal = 0, w->delay_cs = 0; /* a control block is one frame's */
    if (skip_frame(g) == GIF_ERROR)
        return tsr_gif_fail(ctx, g->Error, "reading a frame");
    return TSR_OK;
}

/* Reads the records after the screen descriptor up to the trailer. */
static tsr_status walk_records(tsr_ctx *ctx, GifFileType *g, walk_state *w) {
    for (;;) {
        GifRecordType type;
        tsr_status st;
        if (DGifGetRecordType(g, &type) == GIF_ERROR)
            return tsr_gif_fail(ctx, g->Error, "reading a record");
        if (type == TERMINATE_RECORD_TYPE)
            return TSR_OK;
        if (type == EXTENSION_RECORD_TYPE) {
            if ((st = read_extension(ctx, g, w)))
                return st;
        } else if (type == IMAGE_DESC_RECORD_TYPE) {
            if (DGifGetImageDesc(g) == GIF_ERROR)
                return tsr_gif_fail(ctx, g->Error, "reading a frame header");
            if ((st = count_frame(ctx, g, w)))
                return st;
        }
    }
}

tsr_status tsr_gif_scan(tsr_ctx *ctx, const uint8_t *bytes, size_t len, tsr_gif_facts *facts) {
    tsr_gif_cursor r = {bytes, len, 0};
    walk_state w = {.facts = facts};
    int err = 0;
    bool want_delays = facts->want_delays;
    memset(facts, 0, sizeof *facts);
    facts->want_delays = want_delays;
    facts->loop_count = 1; /* without a loop extension a GIF plays once */
    GifFileType *g = DGifOpen(&r, tsr_gif_read, &err);
    if (!g)
        return tsr_gif_fail(ctx, err, "reading the header");
    facts->width = g->SWidth, facts->height = g->SHeight;
    facts->bit_depth = g->SColorMap ? g->SColorMap->BitsPerPixel : 8;
    tsr_status st = TSR_OK;
    if (facts->width > 0 && facts->height > 0)
        st = tsr_limits_check(ctx, "gif", (uint64_t)facts->width, (uint64_t)facts->height, 4);
    if (!st)
        st = walk_records(ctx, g, &w);
    if (!st && facts->frames == 0)
        st = tsr_error(ctx, TSR_ERR_CORRUPT, "gif: the file holds no image");
    /* disposal of the last frame shows nothing: there is no next frame */
    facts->bands = w.see_through || w.uncovered || w.clears ? 4 : 3;
    DGifCloseFile(g, &err);
    if (st) {
        free(facts->delays);
        facts->delays = NULL;
    }
    return st;
}

tsr_status tsr_gif_anim_info(tsr_ctx *ctx, const uint8_t *bytes, size_t len, tsr_anim_info *info,
                             int **delays_ms) {
    tsr_gif_facts f = {.want_delays = true};
    tsr_status st = tsr_gif_scan(ctx, bytes, len, &f);
    if (st)
        return st;
    *info = (tsr_anim_info){.format = TSR_FORMAT_GIF,
                            .width = f.width,
                            .height = f.height,
                            .bands = f.bands,
                            .frames = f.frames,
                            .loop_count = f.loop_count};
    *delays_ms = f.delays;
    return TSR_OK;
}

static void fill_info(const tsr_gif_facts *f, tsr_image_info *info) {
    info->width = f->width;
    info->height = f->height;
    info->bands = f->bands;
    info->bit_depth = f->bit_depth;
    info->frames = f->frames;
}

static tsr_status info_gif(tsr_ctx *ctx, const uint8_t *bytes, size_t len, tsr_image_info *info) {
    tsr_gif_facts f = {.want_delays = false};
    tsr_status st = tsr_gif_scan(ctx, bytes, len, &f);
    if (!st)
        fill_info(&f, info);
    return st;
}

/* Bits of the global colour table from the screen descriptor (8 without one). */
static int header_bit_depth(const uint8_t *bytes, size_t len) {
    return len > 10 && (bytes[10] & 0x80) ? (bytes[10] & 7) + 1 : 8;
}

static tsr_status decode_gif(tsr_ctx *ctx, const uint8_t *bytes, size_t len,
                             const tsr_decode_options *opts, tsr_image **out,
                             tsr_image_info *info) {
    tsr_anim_info a;
    tsr_status st = tsr_frame_decode(ctx, bytes, len, opts->frame, out, &a);
    if (st)
        return st;
    info->width = a.width;
    info->height = a.height;
    info->bands = a.bands;
    info->bit_depth = header_bit_depth(bytes, len);
    info->frames = a.frames;
    return TSR_OK;
}

static tsr_status encode_gif(tsr_ctx *ctx, const tsr_image *image, const tsr_encode_options *opts,
                             tsr_buffer *out) {
    tsr_frame_writer *w = NULL;
    tsr_status st = tsr_frame_writer_open_still(ctx, TSR_FORMAT_GIF, image, opts, &w);
    if (!st)
        st = tsr_frame_writer_add(w, image, 0);
    if (!st)
        st = tsr_frame_writer_finish(w, out);
    tsr_frame_writer_free(w);
    return st;
}

const tsr_codec tsr_codec_gif = {
    .format = TSR_FORMAT_GIF,
    .name = "gif",
    .mime = "image/gif",
    .extension = "gif",
    .aliases = "",
    .sniff = sniff,
    .info = info_gif,
    .decode = decode_gif,
    .encode = encode_gif,
};
