/* The geometry family's kernels. */
