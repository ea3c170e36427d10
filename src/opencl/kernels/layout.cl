/* The layout ops' kernels (crop, flip, rotate90/180/270). */
