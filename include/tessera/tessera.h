/* libtessera: the whole public API. */
#ifndef TESSERA_H
#define TESSERA_H

#include "tessera/status.h"
#include "tessera/image.h"
#include "tessera/codec.h"
#include "tessera/anim.h"
#include "tessera/op.h"
#include "tessera/pipeline.h"
#include "tessera/engine.h"
#include "tessera/stream.h"

#define TESSERA_VERSION "0.1.0"

#endif
