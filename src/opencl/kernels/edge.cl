/* The edge family's kernels. */
