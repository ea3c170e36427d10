/* Output names beyond the formats: the Deep Zoom spellings (see codec.h). */
#include <strings.h>

#include "codec_internal.h"

bool tsr_output_from_name(const char *name, tsr_format *format, tsr_layout *layout) {
    *layout = TSR_LAYOUT_SINGLE;
    *format = TSR_FORMAT_UNKNOWN;
    if (!name)
        return false;
    if (name[0] == '.')
        name++;
    if (!strcasecmp(name, "dzi") || !strcasecmp(name, "dzi-jpeg") || !strcasecmp(name, "dzi-jpg")) {
        *format = TSR_FORMAT_JPEG, *layout = TSR_LAYOUT_DZI;
        return true;
    }
    if (!strcasecmp(name, "dzi-png")) {
        *format = TSR_FORMAT_PNG, *layout = TSR_LAYOUT_DZI;
        return true;
    }
    if (!strcasecmp(name, "tiff-pyramid")) {
        *format = TSR_FORMAT_TIFF, *layout = TSR_LAYOUT_PYRAMID;
        return true;
    }
    *format = tsr_format_from_name(name);
    return *format != TSR_FORMAT_UNKNOWN;
}

const char *tsr_output_name(tsr_format format, tsr_layout layout) {
    if (layout == TSR_LAYOUT_DZI)
        return format == TSR_FORMAT_PNG ? "dzi-png" : "dzi";
    if (layout == TSR_LAYOUT_PYRAMID)
        return "tiff-pyramid";
    return tsr_format_name(format);
}
