/* One instruction set's rotate span, included by rotate_span.c once per set
 * (no include guard, by design). The includer defines:
 *   RS_NAME(x)             the function name x with the set's suffix
 *   RS_ATTR                function attributes (the target set), may be empty
 *   RS_SAMPLE3(s0, s1, w, d, last)  the interior bilinear sample of a
 *   RS_SAMPLE4(s0, s1, w, d)        3- or 4-band pixel: rows s0 and s1 at the
 *                          pixel's top-left neighbour, weights w[4], output d;
 *                          `last`: d is the span's last pixel (write 3 bytes
 *                          only); s0 and s1 have 8 readable bytes for 3 bands
 * The coordinates, the border test and the border pixels are the same
 * code for every set; only the interior weighted sum differs. Everything
 * defined here is undefined at the end. */

/* The span for a fixed band count (1, 3, 4; 0 = any, from in->bands).
 * The source column and row are each monotone in x, so the pixels whose
 * four neighbours are all inside the image are one run of the span: the
 * border pixels on either side are found from the ends, and the run
 * between them needs no test. */
static RS_ATTR inline __attribute__((always_inline)) void
RS_NAME(span_bands)(const tsr_rotate_state *st, const tsr_region *in, int y, int x_begin, int x_end,
                    uint8_t *d, const int fixed) {
    const int bands = fixed ? fixed : in->bands;
    /* 3 bands read 8 bytes from a pixel on: two columns before the region's
     * right edge at least, else the plain sum */
    const int wide_end = in->rect.x + in->rect.w - 2;
    rotate_pos p;
    int x0, y0, a = x_begin, b = x_end;
    tsr_rotate_row(st, y, &x0, &y0);
    for (; a < b && !rotate_at(st, in, x0, y0, a, &p); a++)
        rotate_sample_border(in, p.sx, p.sy, p.w, d + (size_t)(a - x_begin) * bands);
    for (; b > a && !rotate_at(st, in, x0, y0, b - 1, &p); b--)
        rotate_sample_border(in, p.sx, p.sy, p.w, d + (size_t)(b - 1 - x_begin) * bands);
    d += (size_t)(a - x_begin) * bands;
    for (int x = a; x < b; x += RS_BLOCK) {
        int n = b - x < RS_BLOCK ? b - x : RS_BLOCK;
        int sxs[RS_BLOCK], sys[RS_BLOCK], idx[RS_BLOCK];
        /* positions first, in a loop the compiler vectorises */
        /* simd: auto-vectorised */
        for (int i = 0; i < n; i++) {
            int fx = (x0 + st->adelta[x + i]) >> (TSR_ROTATE_AB_BITS - TSR_ROTATE_INTER_BITS);
            int fy = (y0 + st->bdelta[x + i]) >> (TSR_ROTATE_AB_BITS - TSR_ROTATE_INTER_BITS);
            sxs[i] = fx >> TSR_ROTATE_INTER_BITS;
            sys[i] = fy >> TSR_ROTATE_INTER_BITS;
            idx[i] = (fy & (TSR_ROTATE_INTER_TAB - 1)) * TSR_ROTATE_INTER_TAB +
                     (fx & (TSR_ROTATE_INTER_TAB - 1));
        }
        for (int i = 0; i < n; i++, d += bands) {
            const short *w = st->wtab[idx[i]];
            const uint8_t *s0 = TSR_REGION_AT(in, sxs[i], sys[i]), *s1 = s0 + in->stride;
            if (fixed == 3 && sxs[i] < wide_end)
                RS_SAMPLE3(s0, s1, w, d, x + i + 1 == b);
            else if (fixed == 4)
                RS_SAMPLE4(s0, s1, w, d);
            else
                rotate_sample(s0, s1, bands, w, d);
        }
    }
}

static RS_ATTR void RS_NAME(span)(const tsr_rotate_state *st, const tsr_region *in, int y,
                                  int x_begin, int x_end, uint8_t *d) {
    switch (in->bands) {
    case 1:
        RS_NAME(span_bands)(st, in, y, x_begin, x_end, d, 1);
        break;
    case 3:
        RS_NAME(span_bands)(st, in, y, x_begin, x_end, d, 3);
        break;
    case 4:
        RS_NAME(span_bands)(st, in, y, x_begin, x_end, d, 4);
        break;
    default:
        RS_NAME(span_bands)(st, in, y, x_begin, x_end, d, 0);
        break;
    }
}

#undef RS_NAME
#undef RS_ATTR
#undef RS_SAMPLE3
#undef RS_SAMPLE4
