/* What an OpenCL kernel family (cl_kernels_<family>.c + kernels/<family>.cl)
 * gives the backend, and the helpers it may use to launch kernels.
 *
 * A tile's pixels live on the device as a tsr_cl_image: rows packed (stride
 * rect.w * bands bytes), the first byte at image position (rect.x, rect.y),
 * with the whole image's size for borders, exactly as a tsr_region on the
 * CPU. A kernel family's run() fills out->rect from in (which covers
 * need(out->rect)) with the CPU kernel's bytes: integer or fixed-point
 * arithmetic, float only where the CPU uses the same float operations in
 * the same order (the program is built with FP_CONTRACT OFF, so no fused
 * multiply-add), tables the CPU builds with libm (exp, pow, sin) computed on
 * the host and uploaded. Kernels are written in OpenCL C 1.2.
 *
 * Kernel arguments for an image are four (tsr_cl_arg_image): the buffer,
 * int4 (x, y, w, h) of its rect, int2 (image_w, image_h), int bands. In
 * OpenCL C: `__global const uchar *src, int4 sr, int2 simg, int sb`. */
#ifndef TESSERA_OPENCL_CL_KERNELS_H
#define TESSERA_OPENCL_CL_KERNELS_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <stdbool.h>

#include "tessera/op.h"

/* Pixels of a tile on the device. */
typedef struct tsr_cl_image {
    cl_mem mem;           /* rect.w * rect.h * bands bytes, rows packed */
    tsr_rect rect;        /* in image coordinates */
    int bands;            /* samples per pixel */
    int image_w, image_h; /* the whole image (borders) */
} tsr_cl_image;

/* One engine thread's device state: its command queue, its kernel objects
 * (cl_kernel arguments are not thread-safe) and reused buffers. */
typedef struct tsr_cl_queue tsr_cl_queue;

/* One op's kernels. */
typedef struct tsr_cl_op_kernel {
    const char *op; /* registry name ("brightness"; hidden ops too), for version 1 of the
                       op; "name@N" for version N. Other versions run on the CPU, so a
                       new version of an op never borrows an old version's kernel. */
    /* Whether the kernels cover this prepared op (its parameters, bands);
     * NULL: every prepared op of this name. */
    bool (*supports)(const tsr_op *op);
    /* Enqueues kernels filling out->rect from in. The backend waits for the
     * queue and checks errors; a run() that fails returns non-OK and the
     * engine redoes the tile on the CPU. */
    tsr_status (*run)(tsr_cl_queue *q, const tsr_op *op, const tsr_cl_image *in,
                      const tsr_cl_image *out);
    /* GLOBAL ops: the map on the device, adding in's contribution into the
     * host `partial` only when it succeeds (else partial is unchanged);
     * NULL: the CPU maps. */
    tsr_status (*map)(tsr_cl_queue *q, const tsr_op *op, const tsr_cl_image *in, void *partial);
} tsr_cl_op_kernel;

/* The kernel object `name` of the program, for this thread; NULL (and an
 * error logged) when the program has none. */
cl_kernel tsr_cl_kernel(tsr_cl_queue *q, const char *name);
/* The thread's command queue (in order). */
cl_command_queue tsr_cl_command_queue(tsr_cl_queue *q);
/* A device buffer of at least `bytes` for a kernel's own temporaries,
 * reused across tiles; slots 0..TSR_CL_TEMP_SLOTS-1. NULL when it cannot be
 * allocated (the tile then falls back to the CPU). */
#define TSR_CL_TEMP_SLOTS 4
cl_mem tsr_cl_temp(tsr_cl_queue *q, int slot, size_t bytes);
/* Copies `bytes` of host data (a table, coefficients) into temp `slot` and
 * returns it; NULL on failure. The copy is done when it returns, so `data`
 * may live on the caller's stack. */
cl_mem tsr_cl_table(tsr_cl_queue *q, int slot, const void *data, size_t bytes);
/* Sets the four arguments of image `im` from argument *arg on, advancing it. */
cl_int tsr_cl_arg_image(cl_kernel k, cl_uint *arg, const tsr_cl_image *im);
/* Sets one argument of `size` bytes at *arg, advancing it. */
cl_int tsr_cl_arg(cl_kernel k, cl_uint *arg, size_t size, const void *value);
/* Enqueues `k` over a w x h grid (global id 0 = x, 1 = y) rounded up to
 * whole TSR_CL_GROUP_W x TSR_CL_GROUP_H work-groups: the kernel must start
 * with TSR_GUARD(w, h) (common.cl). One fixed group size, because drivers
 * that compile a kernel per work-group size (PoCL) then compile each once,
 * and odd tile sizes still get full groups on a GPU; a device refusing it
 * gets the driver's choice. w or h of 0 enqueues nothing. */
#define TSR_CL_GROUP_W 16
#define TSR_CL_GROUP_H 8
tsr_status tsr_cl_run_2d(tsr_cl_queue *q, cl_kernel k, size_t w, size_t h);
/* Reads `bytes` of `mem` into host `dst`, waiting for it. */
tsr_status tsr_cl_read(tsr_cl_queue *q, cl_mem mem, void *dst, size_t bytes);
/* Maps a failed OpenCL call to a status (logged with `what`). */
tsr_status tsr_cl_fail(cl_int err, const char *what);

/* The families' tables, each ended by an entry with op == NULL. */
extern const tsr_cl_op_kernel tsr_cl_kernels_point[];
extern const tsr_cl_op_kernel tsr_cl_kernels_convolve[];
extern const tsr_cl_op_kernel tsr_cl_kernels_edge[];
extern const tsr_cl_op_kernel tsr_cl_kernels_geometry[];
extern const tsr_cl_op_kernel tsr_cl_kernels_global[];
extern const tsr_cl_op_kernel tsr_cl_kernels_layout[];

/* The kernel for prepared op `op`, NULL when no family has one that
 * supports it. */
const tsr_cl_op_kernel *tsr_cl_find_kernel(const tsr_op *op);

/* The program's OpenCL C source: every kernels/<family>.cl after
 * kernels/common.cl (generated by scripts/embed_cl.py). */
extern const char tsr_cl_program_source[];

#endif
