// AOTInductor packages (.pt2) behind a tsrt_model: see aoti_package.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "internal.hpp"

namespace tsrt {

// Whether the bytes are a zip archive with AOTInductor's layout (a "data/aotinductor/" folder),
// or the start of one whose end is missing. Checks nothing else.
bool looks_like_aoti_package(const unsigned char *data, size_t size);

// Checks the archive (zip_archive.cpp), the device and the CPU the package was compiled for,
// extracts it into a private folder and loads it with libtorch's AOTIModelPackageLoader.
// `data` is only read during the call.
tsrt_model *load_aoti_package(const unsigned char *data, size_t size, c10::Device device,
                              const tsrt_options *options);

// Runs the package's model for call_method: `args` flattened by the package's input spec,
// the result rebuilt by its output spec.
c10::IValue run_aoti_package(tsrt_model &model, const char *name,
                             const std::vector<c10::IValue> &args);

}  // namespace tsrt
