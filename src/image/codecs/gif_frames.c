/* GIF frames composed on the logical screen, one at a time, as browsers
 * show them: the canvas starts transparent (the background colour index is
 * ignored, as browsers do); before each frame the previous one is disposed
 * of (0 and 1: left in place; 2: its rectangle cleared to transparent; 3:
 * the canvas restored to what it was before that frame); a frame's
 * transparent index leaves the canvas pixel below it. Frames are clipped
 * to the screen; interlaced frames are de-interlaced. */
#include <stdlib.h>
#include <string.h>

#include "gif_internal.h"

/* The decoder between frames. */
typedef struct gif_state {
    tsr_gif_cursor cursor;    /* over the file's bytes */
    GifFileType *g;           /* giflib's decoder, past the last frame handed out */
    GifPixelType *line;       /* one row of frame indices */
    tsr_image *saved;         /* the canvas before the last frame (disposal 3); NULL otherwise */
    tsr_rect last;            /* the last frame's rectangle, clipped to the screen */
    int last_disposal;        /* its disposal method */
    GraphicsControlBlock gcb; /* the control block of the frame being read */
} gif_state;

static void close_gif(tsr_frame_reader *r) {
    gif_state *s = r->state;
    int err;
    if (!s)
        return;
    if (s->g)
        DGifCloseFile(s->g, &err);
    tsr_image_free(s->saved);
    free(s->line);
    free(s);
    r->state = NULL;
}

/* Applies the last frame's disposal to the canvas before the next frame. */
static void dispose_last(gif_state *s, tsr_image *canvas) {
    if (s->last_disposal == DISPOSE_BACKGROUND && !tsr_rect_empty(s->last)) {
        size_t n = (size_t)s->last.w * (size_t)canvas->bands;
        for (int y = s->last.y; y < s->last.y + s->last.h; y++)
            memset(canvas->data + (size_t)y * canvas->stride +
                       (size_t)s->last.x * (size_t)canvas->bands,
                   0, n);
    } else if (s->last_disposal == DISPOSE_PREVIOUS && s->saved) {
        memcpy(canvas->data, s->saved->data, canvas->stride * (size_t)canvas->height);
    }
}

/* The frame's colour table as RGB triples (entries past its size black). */
static tsr_status frame_palette(tsr_ctx *ctx, const GifFileType *g, uint8_t palette[256][3]) {
    const ColorMapObject *map = g->Image.ColorMap ? g->Image.ColorMap : g->SColorMap;
    memset(palette, 0, 256 * 3);
    if (!map || !map->Colors)
        return tsr_error(ctx, TSR_ERR_CORRUPT, "gif: a frame has no colour table");
    for (int i = 0; i < map->ColorCount && i < 256; i++) {
        palette[i][0] = map->Colors[i].Red;
        palette[i][1] = map->Colors[i].Green;
        palette[i][2] = map->Colors[i].Blue;
    }
    return TSR_OK;
}

/* Draws one decoded row of frame indices at canvas row `cy`. */
static void draw_row(const gif_state *s, const uint8_t palette[256][3], int cy, tsr_image *canvas) {
    const GifImageDesc *d = &s->g->Image;
    uint8_t *row = canvas->data + (size_t)cy * canvas->stride;
    for (int x = 0; x < d->Width; x++) {
        int cx = d->Left + x;
        if (cx >= canvas->width)
            break;
        if (s->line[x] == s->gcb.TransparentColor)
            continue;
        uint8_t *px = row + (size_t)cx * (size_t)canvas->bands;
        memcpy(px, palette[s->line[x]], 3);
        if (canvas->bands == 4)
            px[3] = 255;
    }
}

/* Decodes the frame whose descriptor was just read onto the canvas, row by
 * row (de-interlacing when needed), clipped to the screen. */
static tsr_status draw_frame(tsr_frame_reader *r, gif_state *s) {
    static const int start[4] = {0, 4, 2, 1}, step[4] = {8, 8, 4, 2};
    const GifImageDesc *d = &s->g->Image;
    uint8_t palette[256][3];
    tsr_status st = frame_palette(r->ctx, s->g, palette);
    if (st)
        return st;
    GifPixelType *line = realloc(s->line, (size_t)d->Width);
    if (!line)
        return tsr_error(r->ctx, TSR_ERR_NOMEM, "gif: out of memory");
    s->line = line;
    int passes = d->Interlace ? 4 : 1;
    for (int p = 0; p < passes; p++) {
        int y0 = passes > 1 ? start[p] : 0, dy = passes > 1 ? step[p] : 1;
        for (int y = y0; y < d->Height; y += dy) {
            if (DGifGetLine(s->g, line, d->Width) == GIF_ERROR)
                return tsr_gif_fail(r->ctx, s->g->Error, "decoding a frame");
            int cy = d->Top + y;
            if (cy >= 0 && cy < r->canvas->height)
                draw_row(s, palette, cy, r->canvas);
        }
    }
    return TSR_OK;
}

/* Reads a control block (transparency, delay, disposal) or skips another
 * extension. */
static tsr_status read_extension(tsr_frame_reader *r, gif_state *s) {
    int code;
    GifByteType *ext;
    if (DGifGetExtension(s->g, &code, &ext) == GIF_ERROR)
        return tsr_gif_fail(r->ctx, s->g->Error, "reading an extension");
    if (code == GRAPHICS_EXT_FUNC_CODE && ext && ext[0] >= 4)
        DGifExtensionToGCB(ext[0], ext + 1, &s->gcb);
    while (ext)
        if (DGifGetExtensionNext(s->g, &ext) == GIF_ERROR)
            return tsr_gif_fail(r->ctx, s->g->Error, "reading an extension");
    return TSR_OK;
}

/* Composes the frame whose descriptor was just read: disposes of the last
 * frame, keeps the canvas for a disposal 3, draws. */
static tsr_status compose(tsr_frame_reader *r, gif_state *s) {
    const GifImageDesc *d = &s->g->Image;
    tsr_image *canvas = r->canvas;
    tsr_status st;
    dispose_last(s, canvas);
    tsr_image_free(s->saved);
    s->saved = NULL;
    if (s->gcb.DisposalMode == DISPOSE_PREVIOUS && (st = tsr_image_copy(r->ctx, canvas, &s->saved)))
        return st;
    s->last = tsr_rect_intersect(tsr_rect_make(d->Left, d->Top, d->Width, d->Height),
                                 tsr_rect_make(0, 0, canvas->width, canvas->height));
    s->last_disposal = s->gcb.DisposalMode;
    return draw_frame(r, s);
}

static tsr_status next_gif(tsr_frame_reader *r, int *delay_ms) {
    gif_state *s = r->state;
    s->gcb = (GraphicsControlBlock){.TransparentColor = NO_TRANSPARENT_COLOR};
    for (;;) {
        GifRecordType type;
        tsr_status st;
        if (DGifGetRecordType(s->g, &type) == GIF_ERROR)
            return tsr_gif_fail(r->ctx, s->g->Error, "reading a record");
        if (type == TERMINATE_RECORD_TYPE)
            return tsr_error(r->ctx, TSR_ERR_CORRUPT, "gif: the file ends before frame %d",
                             r->next + 1);
        if (type == EXTENSION_RECORD_TYPE) {
            if ((st = read_extension(r, s)))
                return st;
            continue;
        }
        if (type != IMAGE_DESC_RECORD_TYPE)
            continue;
        if (DGifGetImageDesc(s->g) == GIF_ERROR)
            return tsr_gif_fail(r->ctx, s->g->Error, "reading a frame header");
        if ((st = compose(r, s)))
            return st;
        *delay_ms = s->gcb.DelayTime * 10;
        return TSR_OK;
    }
}

tsr_status tsr_gif_frames_open(tsr_frame_reader *r, const uint8_t *bytes, size_t len) {
    tsr_gif_facts f = {.want_delays = false};
    int err = 0;
    tsr_status st = tsr_gif_scan(r->ctx, bytes, len, &f);
    if (st)
        return st;
    r->info = (tsr_anim_info){.format = TSR_FORMAT_GIF,
                              .width = f.width,
                              .height = f.height,
                              .bands = f.bands,
                              .frames = f.frames,
                              .loop_count = f.loop_count};
    gif_state *s = calloc(1, sizeof *s);
    if (!s)
        return tsr_error(r->ctx, TSR_ERR_NOMEM, "gif: out of memory");
    r->state = s;
    r->next_frame = next_gif;
    r->close = close_gif;
    s->cursor = (tsr_gif_cursor){bytes, len, 0};
    if (!(s->g = DGifOpen(&s->cursor, tsr_gif_read, &err)))
        return tsr_gif_fail(r->ctx, err, "reading the header");
    return tsr_image_new(r->ctx, f.width, f.height, f.bands, &r->canvas);
}
