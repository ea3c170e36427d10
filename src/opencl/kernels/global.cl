/* The global family's kernels. */
