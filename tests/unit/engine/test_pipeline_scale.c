/* Scaling a pipeline's pixel geometry to a small copy of the image
 * (src/engine/pipeline_scale.c, for previews): which parameters change and
 * how, and that every pipeline valid on the image stays valid on the copy
 * (random chains of crops, resizes, thumbnails and quarter turns). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tessera/tessera.h"

/* The normalized text of `text` scaled from full to small, or NULL with
 * the message on ctx. */
static char *scaled(tsr_ctx *ctx, const char *text, int fw, int fh, int sw, int sh) {
    tsr_pipeline *p = NULL;
    char *out = NULL;
    tsr_ctx_reset(ctx);
    if (!tsr_pipeline_parse(ctx, text, &p) && !tsr_pipeline_scale(ctx, p, fw, fh, sw, sh, 3))
        out = tsr_pipeline_to_text(p);
    tsr_pipeline_free(p);
    return out;
}

static void expect(const char *text, int fw, int fh, int sw, int sh, const char *want) {
    tsr_ctx *ctx = tsr_ctx_new();
    char *got = scaled(ctx, text, fw, fh, sw, sh);
    if (!got || strcmp(got, want))
        fprintf(stderr, "%s at %dx%d -> %dx%d: got %s, want %s (%s)\n", text, fw, fh, sw, sh,
                got ? got : "(error)", want, tsr_ctx_message(ctx));
    CHECK(got && !strcmp(got, want));
    free(got);
    tsr_ctx_free(ctx);
}

static void test_geometry_is_scaled(void) {
    /* a crop that lies outside the 256x192 copy until it is scaled */
    expect("crop:x=600,y=500,width=300,height=200", 1024, 768, 256, 192,
           "crop@1:x=150,y=125,width=75,height=50");
    /* a resize given one side gets both: the aspect ratio could round one to 0 */
    expect("resize:width=512", 1024, 768, 256, 192, "resize@1:width=128,height=96,interp=linear");
    expect("resize:width=1000", 3000, 2, 300, 1, "resize@1:width=100,height=1,interp=linear");
    /* a thumbnail's box is not scaled (it never enlarges), but the ops after
     * it are scaled by what it left: 320x240 on the image, 256x192 on the copy */
    expect("thumbnail:width=320|crop:x=160,y=120", 1024, 768, 256, 192,
           "thumbnail@1:width=320|crop@1:x=128,y=96");
    expect("hough-lines:threshold=100", 1000, 1000, 250, 250,
           "hough-lines@1:threshold=25,rho=1,theta=1,max_lines=100,mode=draw");
    /* the second crop sees the first one's output, on both sizes */
    expect("crop:x=200,y=0,width=800|crop:x=400,y=100", 1000, 400, 250, 100,
           "crop@1:x=50,y=0,width=200|crop@1:x=100,y=25");
    /* a quarter turn swaps the sides the next op measures */
    expect("rotate90|crop:x=0,y=0,width=100,height=400", 800, 200, 400, 100,
           "rotate90@1|crop@1:x=0,y=0,width=50,height=200");
}

static void test_the_rest_is_not(void) {
    /* filter sizes, factors and unset extents stay as they are */
    expect("gaussian-blur:sigma=3|median:ksize=5|box-blur:ksize=9", 1024, 768, 256, 192,
           "gaussian-blur@1:sigma=3,ksize=0|median@1:ksize=5|box-blur@1:ksize=9");
    expect("resize:scale=0.5|crop:x=100", 1024, 768, 256, 192,
           "resize@1:scale=0.5,interp=linear|crop@1:x=25,y=0");
    expect("hough-lines:rho=2,threshold=40", 1000, 1000, 250, 250,
           "hough-lines@1:threshold=10,rho=2,theta=1,max_lines=100,mode=draw");
    /* the same size: nothing changes */
    expect("crop:x=17,y=3,width=101,height=99", 300, 200, 300, 200,
           "crop@1:x=17,y=3,width=101,height=99");
}

static void test_edges_stay_inside(void) {
    /* the last column and row of the image stay inside the copy */
    expect("crop:x=1023,y=767,width=1,height=1", 1024, 768, 256, 192,
           "crop@1:x=255,y=191,width=1,height=1");
    /* an extent rounds up to the copy's edge at most, and to 1 at least */
    expect("crop:x=2,y=0,width=1022,height=1", 1024, 768, 256, 192,
           "crop@1:x=0,y=0,width=256,height=1");
    expect("resize:width=2,height=2|crop:x=1,y=1", 1024, 768, 256, 192,
           "resize@1:width=1,height=1,interp=linear|crop@1:x=0,y=0");
}

static void test_errors_are_the_images(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    CHECK(scaled(ctx, "crop:x=2000", 1024, 768, 256, 192) == NULL);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "lies outside the 1024x768 image");
    tsr_ctx_free(ctx);
}

/* A random pipeline of geometry ops that plans on a fw x fh image, into
 * `text`. */
static void random_geometry(int fw, int fh, char *text, size_t size) {
    size_t n = 0;
    int w = fw, h = fh;
    int ops = 1 + rand() % 4;
    text[0] = '\0';
    for (int i = 0; i < ops; i++) {
        const char *bar = i ? "|" : "";
        int kind = rand() % 4;
        if (kind == 0) {
            int x = rand() % w, y = rand() % h;
            int cw = 1 + rand() % (w - x), ch = 1 + rand() % (h - y);
            n += (size_t)snprintf(text + n, size - n, "%scrop:x=%d,y=%d,width=%d,height=%d", bar, x,
                                  y, cw, ch);
            w = cw;
            h = ch;
        } else if (kind == 1) {
            int nw = 1 + rand() % (2 * w);
            n += (size_t)snprintf(text + n, size - n, "%sresize:width=%d", bar, nw);
            h = (int)(h * ((double)nw / w) + 0.5);
            h = h < 1 ? 1 : h;
            w = nw;
            if (h > 4000)
                return; /* stop before the sizes grow silly */
        } else if (kind == 2) {
            n += (size_t)snprintf(text + n, size - n, "%srotate90", bar);
            int t = w;
            w = h;
            h = t;
        } else {
            int box = 1 + rand() % w;
            tsr_ctx *ctx = tsr_ctx_new();
            tsr_pipeline *p = NULL;
            char one[64];
            snprintf(one, sizeof one, "thumbnail:width=%d", box);
            n += (size_t)snprintf(text + n, size - n, "%s%s", bar, one);
            if (!tsr_pipeline_parse(ctx, one, &p))
                tsr_pipeline_check_size(ctx, p, w, h, 3, &w, &h, NULL);
            tsr_pipeline_free(p);
            tsr_ctx_free(ctx);
        }
    }
}

static void test_random_pipelines_stay_valid(void) {
    srand(12);
    tsr_ctx *ctx = tsr_ctx_new();
    int planned = 0;
    for (int draw = 0; draw < 3000; draw++) {
        int fw = 1 + rand() % 3000, fh = 1 + rand() % 3000;
        int sw = 1 + rand() % fw, sh = 1 + rand() % fh;
        char text[512];
        random_geometry(fw, fh, text, sizeof text);
        tsr_pipeline *p = NULL;
        tsr_ctx_reset(ctx);
        if (tsr_pipeline_parse(ctx, text, &p) ||
            tsr_pipeline_check_size(ctx, p, fw, fh, 3, NULL, NULL, NULL)) {
            tsr_pipeline_free(p);
            continue; /* not valid on the image (a resize over the limits) */
        }
        tsr_status st = tsr_pipeline_scale(ctx, p, fw, fh, sw, sh, 3);
        if (!st)
            st = tsr_pipeline_check_size(ctx, p, sw, sh, 3, NULL, NULL, NULL);
        if (st)
            fprintf(stderr, "%s: %dx%d -> %dx%d: %s\n", text, fw, fh, sw, sh, tsr_ctx_message(ctx));
        CHECK(st == TSR_OK);
        planned += !st;
        tsr_pipeline_free(p);
    }
    printf("     %d random pipelines planned on their copy\n", planned);
    CHECK(planned > 2000);
    tsr_ctx_free(ctx);
}

int main(void) {
    RUN(test_geometry_is_scaled);
    RUN(test_the_rest_is_not);
    RUN(test_edges_stay_inside);
    RUN(test_errors_are_the_images);
    RUN(test_random_pipelines_stay_valid);
    return check_finish();
}
