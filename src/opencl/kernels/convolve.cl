/* The convolve family's kernels. */
