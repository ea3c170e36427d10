/* The canvas sizes of a HEIF file's derived images, read from the boxes
 * before libheif decodes anything. libheif 1.15 checks each image's ispe
 * property against its side limit, but sizes a grid or an overlay (iovl)
 * from the item's own payload, checked only against that side limit: a
 * small file can declare a 64x64 grid whose payload asks for 30000x30000.
 * This walk finds every grid and iovl item (first meta box, its first iinf,
 * iloc and idat, as libheif reads them), gathers the first bytes of its
 * payload the way libheif's iloc reader does (file offsets or idat, all
 * extents in order) and checks the canvas with tsr_limits_check. A derived
 * item whose payload cannot be read whole from its extents (cut, out of
 * range, another construction method, too short) is refused as corrupt:
 * libheif refuses most of those too, and the rest (its idat reader lets an
 * extent run a few bytes past the idat box) are not worth the doubt. */
#include <stdio.h>
#include <string.h>

#include "heif_internal.h"

#define FOURCC(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))
#define PAYLOAD_BYTES      20 /* enough for an iovl header with 32-bit fields (18 bytes) */

/* A bounded big-endian reader over bytes [pos, end) of the file. */
typedef struct cursor {
    const uint8_t *data; /* the whole file */
    uint64_t pos;        /* next byte */
    uint64_t end;        /* one past the last byte this cursor may read */
    bool bad;            /* a read went past `end`; later reads give 0 */
} cursor;

/* A box: its type and its payload [start, end). */
typedef struct box {
    uint32_t type; /* four characters, big-endian */
    uint64_t start;
    uint64_t end;
} box;

/* A derived image item. */
typedef struct derived {
    uint32_t id;   /* item_ID */
    uint32_t type; /* 'grid' or 'iovl' */
} derived;

/* What the walk found. */
typedef struct scan {
    derived items[TSR_HEIF_MAX_DERIVED]; /* derived items of the iinf box */
    int n;                               /* how many */
    box iinf, iloc, idat;                /* the meta box's first of each; type 0 when absent */
} scan;

/* Reads an `n`-byte big-endian number (n = 0..8); 0 and c->bad past the end. */
static uint64_t take(cursor *c, int n) {
    if (c->bad || c->end - c->pos < (uint64_t)n) {
        c->bad = true;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | c->data[c->pos++];
    return v;
}

/* Reads the box header at c->pos and moves past the whole box; false at
 * the end of the cursor, or with c->bad set for a header that does not fit. */
static bool next_box(cursor *c, box *b) {
    if (c->bad || c->pos >= c->end)
        return false;
    uint64_t at = c->pos, size = take(c, 4);
    b->type = (uint32_t)take(c, 4);
    if (size == 1)
        size = take(c, 8);
    else if (size == 0)
        size = c->end - at;
    if (c->bad || size < c->pos - at || size > c->end - at) {
        c->bad = true;
        return false;
    }
    b->start = c->pos;
    b->end = at + size;
    c->pos = b->end;
    return true;
}

static tsr_status corrupt(tsr_ctx *ctx, const char *what, const char *box_name) {
    return tsr_error(ctx, TSR_ERR_CORRUPT, "%s: truncated or corrupt file: bad %s box", what,
                     box_name);
}

/* Finds the first meta box's iinf, iloc and idat. */
static tsr_status find_boxes(tsr_ctx *ctx, const char *what, const uint8_t *bytes, size_t len,
                             scan *s) {
    cursor top = {bytes, 0, len, false};
    box b;
    while (next_box(&top, &b) && b.type != FOURCC('m', 'e', 't', 'a'))
        ;
    if (top.bad)
        return corrupt(ctx, what, "top-level");
    if (b.type != FOURCC('m', 'e', 't', 'a') || b.end - b.start < 4)
        return TSR_OK;                                /* libheif refuses a file without meta */
    cursor meta = {bytes, b.start + 4, b.end, false}; /* after version and flags */
    while (next_box(&meta, &b)) {
        box *slot = b.type == FOURCC('i', 'i', 'n', 'f')   ? &s->iinf
                    : b.type == FOURCC('i', 'l', 'o', 'c') ? &s->iloc
                    : b.type == FOURCC('i', 'd', 'a', 't') ? &s->idat
                                                           : NULL;
        if (slot && !slot->type)
            *slot = b;
    }
    return meta.bad ? corrupt(ctx, what, "meta") : TSR_OK;
}

/* Collects the grid and iovl items of the iinf box (infe version 2 and 3). */
static tsr_status read_iinf(tsr_ctx *ctx, const char *what, const uint8_t *bytes, scan *s) {
    cursor c = {bytes, s->iinf.start, s->iinf.end, false};
    int version = (int)take(&c, 1);
    take(&c, 3);
    take(&c, version == 0 ? 2 : 4); /* entry count: the infe boxes are walked instead */
    box b;
    while (next_box(&c, &b)) {
        if (b.type != FOURCC('i', 'n', 'f', 'e'))
            continue;
        cursor e = {bytes, b.start, b.end, false};
        int v = (int)take(&e, 1);
        take(&e, 3);
        if (v < 2)
            continue; /* no item type: not an image */
        uint32_t id = (uint32_t)take(&e, v == 2 ? 2 : 4);
        take(&e, 2);
        uint32_t type = (uint32_t)take(&e, 4);
        if (e.bad)
            return corrupt(ctx, what, "infe");
        if (type != FOURCC('g', 'r', 'i', 'd') && type != FOURCC('i', 'o', 'v', 'l'))
            continue;
        if (s->n == TSR_HEIF_MAX_DERIVED)
            return tsr_error(ctx, TSR_ERR_LIMIT, "%s: more than %d derived images (grid, iovl)",
                             what, TSR_HEIF_MAX_DERIVED);
        s->items[s->n++] = (derived){.id = id, .type = type};
    }
    return c.bad ? corrupt(ctx, what, "iinf") : TSR_OK;
}

/* Appends up to PAYLOAD_BYTES - *have bytes of one extent; false when the
 * extent lies outside the file or its idat box, or uses construction
 * method 2 (item offsets, which libheif 1.15 does not implement). */
static bool gather(const uint8_t *bytes, size_t len, const scan *s, int method, uint64_t offset,
                   uint64_t length, uint8_t *buf, size_t *have) {
    uint64_t from, limit;
    if (method == 0) {
        from = offset, limit = len;
    } else if (method == 1 && s->idat.type) {
        from = s->idat.start + offset, limit = s->idat.end;
        if (from < offset) /* wrapped */
            return false;
    } else {
        return false;
    }
    if (from > limit || length > limit - from)
        return false;
    size_t n = length < PAYLOAD_BYTES - *have ? (size_t)length : PAYLOAD_BYTES - *have;
    memcpy(buf + *have, bytes + from, n);
    *have += n;
    return true;
}

/* Checks the canvas a derived item's payload declares. */
static tsr_status check_canvas(tsr_ctx *ctx, const char *what, uint32_t type, const uint8_t *p,
                               size_t have) {
    bool grid = type == FOURCC('g', 'r', 'i', 'd');
    size_t at = grid ? 4 : 10, field = have >= 2 && p[1] & 1 ? 4 : 2;
    if (have < at + 2 * field)
        return tsr_error(ctx, TSR_ERR_CORRUPT, "%s: truncated or corrupt file: %s item data", what,
                         grid ? "grid" : "overlay");
    uint64_t w = 0, h = 0;
    for (size_t i = 0; i < field; i++) {
        w = w << 8 | p[at + i];
        h = h << 8 | p[at + field + i];
    }
    char label[48];
    snprintf(label, sizeof label, "%s %s image", what, grid ? "grid" : "overlay");
    tsr_status st = tsr_limits_check(ctx, label, w, h, 3);
    return st ? st : tsr_limits_check_alloc(ctx, label, TSR_HEIF_DECODE_BYTES(w, h));
}

/* Reads one iloc entry at the cursor; checks it when it is a derived item. */
static tsr_status read_item(tsr_ctx *ctx, const char *what, const uint8_t *bytes, size_t len,
                            const scan *s, cursor *c, int version, const int sizes[4]) {
    uint32_t id = (uint32_t)take(c, version < 2 ? 2 : 4);
    int method = version >= 1 ? (int)(take(c, 2) & 0xF) : 0;
    take(c, 2); /* data reference index */
    uint64_t base = take(c, sizes[2]);
    int extents = (int)take(c, 2);
    const derived *d = NULL;
    for (int i = 0; i < s->n && !d; i++)
        d = s->items[i].id == id ? &s->items[i] : NULL;
    uint8_t buf[PAYLOAD_BYTES];
    size_t have = 0;
    bool readable = true;
    for (int e = 0; e < extents && !c->bad; e++) {
        take(c, sizes[3]); /* extent index */
        uint64_t offset = take(c, sizes[0]), length = take(c, sizes[1]);
        if (d && readable && !c->bad)
            readable = base + offset >= base &&
                       gather(bytes, len, s, method, base + offset, length, buf, &have);
    }
    if (c->bad)
        return corrupt(ctx, what, "iloc");
    if (!d)
        return TSR_OK;
    return check_canvas(ctx, what, d->type, buf, readable ? have : 0);
}

/* Walks the iloc entries; each derived item's payload is checked. */
static tsr_status read_iloc(tsr_ctx *ctx, const char *what, const uint8_t *bytes, size_t len,
                            const scan *s) {
    cursor c = {bytes, s->iloc.start, s->iloc.end, false};
    int version = (int)take(&c, 1);
    take(&c, 3);
    int packed = (int)take(&c, 2), sizes[4];
    /* offset, length, base offset, index: libheif reads 4 or 8 bytes, else none. */
    for (int i = 0; i < 4; i++) {
        int n = packed >> (12 - 4 * i) & 0xF;
        sizes[i] = n == 4 || n == 8 ? n : 0;
    }
    if (version <= 1)
        sizes[3] = 0;
    uint64_t count = take(&c, version < 2 ? 2 : 4);
    if (count > TSR_HEIF_MAX_ILOC_ITEMS)
        return tsr_error(ctx, TSR_ERR_LIMIT, "%s: the iloc box lists %llu items, more than %d",
                         what, (unsigned long long)count, TSR_HEIF_MAX_ILOC_ITEMS);
    tsr_status st = c.bad ? corrupt(ctx, what, "iloc") : TSR_OK;
    for (uint64_t i = 0; i < count && !st; i++)
        st = read_item(ctx, what, bytes, len, s, &c, version, sizes);
    return st;
}

tsr_status tsr_heif_check_derived(tsr_ctx *ctx, const char *what, const uint8_t *bytes,
                                  size_t len) {
    scan s;
    memset(&s, 0, sizeof s);
    tsr_status st = find_boxes(ctx, what, bytes, len, &s);
    if (!st && s.iinf.type)
        st = read_iinf(ctx, what, bytes, &s);
    if (!st && s.n && s.iloc.type)
        st = read_iloc(ctx, what, bytes, len, &s);
    return st;
}
