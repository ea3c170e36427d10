/* libvips peer for the vips-bench workload (bench/run.py builds it into
 * bench/out/ when `pkg-config vips` finds libvips-dev).
 *
 *   vips_peer IN.tif OUT.tif
 *
 * The same job as the real vips-bench's C program, one process, one
 * demand-driven streaming pipeline: crop 100 px from each edge, shrink x0.9
 * with the linear kernel, sharpen with (-1 ... 16 ... -1) / 8, save TIFF.
 * Threads come from VIPS_CONCURRENCY. Exit status: 0 ok, 1 failure, 2 usage.
 */
#include <stdio.h>
#include <vips/vips.h>

/* Builds the pipeline from IN and writes it to OUT_PATH; -1 on failure with
 * the message in libvips' error buffer. */
static int run(VipsImage *in, const char *out_path) {
    VipsImage *cropped = NULL, *shrunk = NULL, *mask = NULL, *out = NULL;
    int result = -1;

    if (vips_crop(in, &cropped, 100, 100, in->Xsize - 200, in->Ysize - 200, NULL))
        goto out;
    if (vips_resize(cropped, &shrunk, 0.9, "kernel", VIPS_KERNEL_LINEAR, NULL))
        goto out;
    mask = vips_image_new_matrixv(3, 3, -1.0, -1.0, -1.0, -1.0, 16.0, -1.0, -1.0, -1.0, -1.0);
    vips_image_set_double(mask, "scale", 8);
    if (vips_conv(shrunk, &out, mask, "precision", VIPS_PRECISION_INTEGER, NULL))
        goto out;
    result = vips_image_write_to_file(out, out_path, NULL);
out:
    if (out)
        g_object_unref(out);
    if (mask)
        g_object_unref(mask);
    if (shrunk)
        g_object_unref(shrunk);
    if (cropped)
        g_object_unref(cropped);
    return result;
}

int main(int argc, char **argv) {
    VipsImage *in;
    int result;

    if (VIPS_INIT(argv[0]))
        vips_error_exit(NULL);
    if (argc != 3) {
        fprintf(stderr, "usage: vips_peer IN.tif OUT.tif\n");
        return 2;
    }
    in = vips_image_new_from_file(argv[1], "access", VIPS_ACCESS_SEQUENTIAL, NULL);
    if (!in) {
        fprintf(stderr, "vips_peer: %s", vips_error_buffer());
        return 1;
    }
    result = run(in, argv[2]);
    if (result)
        fprintf(stderr, "vips_peer: %s", vips_error_buffer());
    g_object_unref(in);
    vips_shutdown();
    return result ? 1 : 0;
}
