/* Finding OpenCL platforms and devices, and describing them
 * (`tessera info --devices`). */
#include <stdio.h>
#include <string.h>

#include "opencl/cl_internal.h"

#define MAX_PLATFORMS 16
#define MAX_DEVICES   64

int tsr_cl_enumerate(cl_found_device *out, int max, char *why, size_t why_size) {
    cl_platform_id platforms[MAX_PLATFORMS];
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(MAX_PLATFORMS, platforms, &np);
    if (err != CL_SUCCESS || np == 0) {
        snprintf(why, why_size, "no OpenCL platform (%s)",
                 err == CL_SUCCESS ? "none installed" : "no runtime or ICD found");
        return 0;
    }
    int n = 0;
    for (cl_uint p = 0; p < np && p < MAX_PLATFORMS && n < max; p++) {
        cl_device_id devs[MAX_DEVICES];
        cl_uint nd = 0;
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, MAX_DEVICES, devs, &nd) != CL_SUCCESS)
            continue;
        for (cl_uint d = 0; d < nd && d < MAX_DEVICES && n < max; d++) {
            cl_device_type type = 0;
            clGetDeviceInfo(devs[d], CL_DEVICE_TYPE, sizeof type, &type, NULL);
            out[n++] = (cl_found_device){platforms[p], devs[d], type};
        }
    }
    if (n == 0)
        snprintf(why, why_size, "no OpenCL device on %u platform%s", np, np == 1 ? "" : "s");
    return n;
}

/* OpenCL refuses a buffer shorter than the value: query into a large one,
 * then keep what fits. */
void tsr_cl_device_string(cl_device_id d, cl_device_info what, char *buf, size_t size) {
    char full[2048] = "";
    if (clGetDeviceInfo(d, what, sizeof full - 1, full, NULL) != CL_SUCCESS)
        full[0] = 0;
    full[sizeof full - 1] = 0;
    snprintf(buf, size, "%s", full);
}

void tsr_cl_platform_string(cl_platform_id p, cl_platform_info what, char *buf, size_t size) {
    char full[2048] = "";
    if (clGetPlatformInfo(p, what, sizeof full - 1, full, NULL) != CL_SUCCESS)
        full[0] = 0;
    full[sizeof full - 1] = 0;
    snprintf(buf, size, "%s", full);
}

static const char *type_name(cl_device_type t) {
    if (t & CL_DEVICE_TYPE_GPU)
        return "gpu";
    if (t & CL_DEVICE_TYPE_CPU)
        return "cpu";
    if (t & CL_DEVICE_TYPE_ACCELERATOR)
        return "accelerator";
    return "other";
}

static json_t *device_json(int index, const cl_found_device *f) {
    char name[256], vendor[256], driver[128], version[128];
    cl_ulong mem = 0, alloc = 0;
    cl_uint units = 0, clock = 0;
    tsr_cl_device_string(f->device, CL_DEVICE_NAME, name, sizeof name);
    tsr_cl_device_string(f->device, CL_DEVICE_VENDOR, vendor, sizeof vendor);
    tsr_cl_device_string(f->device, CL_DRIVER_VERSION, driver, sizeof driver);
    tsr_cl_device_string(f->device, CL_DEVICE_VERSION, version, sizeof version);
    clGetDeviceInfo(f->device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL);
    clGetDeviceInfo(f->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof alloc, &alloc, NULL);
    clGetDeviceInfo(f->device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof units, &units, NULL);
    clGetDeviceInfo(f->device, CL_DEVICE_MAX_CLOCK_FREQUENCY, sizeof clock, &clock, NULL);
    return json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:i, s:i}", "index", index, "name",
                     name, "type", type_name(f->type), "vendor", vendor, "driver", driver,
                     "version", version, "global_memory", (json_int_t)mem, "max_alloc",
                     (json_int_t)alloc, "compute_units", (int)units, "max_clock_mhz", (int)clock);
}

json_t *tsr_cl_devices_json(void) {
    cl_found_device found[MAX_DEVICES];
    char why[128] = "";
    int n = tsr_cl_enumerate(found, MAX_DEVICES, why, sizeof why);
    json_t *platforms = json_array();
    for (int i = 0; i < n; i++) {
        if (i == 0 || found[i].platform != found[i - 1].platform) {
            char name[256], vendor[256], version[256];
            tsr_cl_platform_string(found[i].platform, CL_PLATFORM_NAME, name, sizeof name);
            tsr_cl_platform_string(found[i].platform, CL_PLATFORM_VENDOR, vendor, sizeof vendor);
            tsr_cl_platform_string(found[i].platform, CL_PLATFORM_VERSION, version, sizeof version);
            json_array_append_new(platforms,
                                  json_pack("{s:s, s:s, s:s, s:[]}", "name", name, "vendor", vendor,
                                            "version", version, "devices"));
        }
        json_t *last = json_array_get(platforms, json_array_size(platforms) - 1);
        json_array_append_new(json_object_get(last, "devices"), device_json(i, &found[i]));
    }
    json_t *root = json_pack("{s:o}", "platforms", platforms);
    if (n == 0)
        json_object_set_new(root, "error", json_string(why));
    return root;
}
