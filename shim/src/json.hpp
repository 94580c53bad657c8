// A small JSON reader for the two documents an AOTInductor package carries that libtsrt must
// understand: its metadata (an object of strings) and its call spec (PyTorch's pytree
// TreeSpec). libtorch's own JSON library is not among its installed headers.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace tsrt {

struct Json {
    enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
    bool boolean = false;
    double number = 0;
    std::string text;                                  // String
    std::vector<Json> items;                           // Array
    std::vector<std::pair<std::string, Json>> fields;  // Object, in document order

    // The field `name` of an object; nullptr when absent or not an object.
    const Json *field(const std::string &name) const;
};

// Parses `text`; throws tsrt::Error (TSRT_ERR_BAD_MODEL) naming `what` when it is not JSON.
Json parse_json(const std::string &text, const std::string &what);

}  // namespace tsrt
