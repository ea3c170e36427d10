/* Helpers shared by the text and JSON pipeline parsers. */
#ifndef TESSERA_ENGINE_PIPELINE_INTERNAL_H
#define TESSERA_ENGINE_PIPELINE_INTERNAL_H

#include "tessera/pipeline.h"

/* Allocates a pipeline of n_ops zeroed ops (errors for 0 or too many). */
tsr_status tsr_pipeline_new(tsr_ctx *ctx, int n_ops, tsr_pipeline **out);
/* Looks up a user-visible op by name and fills in its defaults. `name` may
 * pin a version ("gaussian-blur@1"), and so may `version` (> 0; JSON's
 * "version" member; 0 = none); without either the op's default (newest)
 * version is taken. Errors: an unknown name (with a did-you-mean), a bad
 * or unknown version (listing the versions there are), two different
 * versions. */
tsr_status tsr_pipeline_op_init(tsr_ctx *ctx, const char *name, int version, tsr_op *op);
/* Checks that required parameters were given and the op's check() (the
 * parameter rules that do not depend on the image). */
tsr_status tsr_pipeline_op_finish(tsr_ctx *ctx, tsr_op *op);

/* Parses the pipeline of the preset named `name` (an id or a name, see
 * tsr_preset_find; surrounding spaces ignored). An unknown name is
 * TSR_ERR_USAGE with the closest known id. The caller frees *out. */
tsr_status tsr_pipeline_parse_preset(tsr_ctx *ctx, const char *name, tsr_pipeline **out);

#endif
