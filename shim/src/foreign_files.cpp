// Recognising the files most often mistaken for TorchScript programs (a torch.save checkpoint,
// a torch.export archive, an ONNX model), so that loading one says what it is and how to make
// a TorchScript file instead of passing on libtorch's "constants.pkl not found ... corrupted".
#include <caffe2/serialize/inline_container.h>

#include <cstring>
#include <string>

#include "internal.hpp"

using tsrt::fail;

namespace {

const char *const kMakeOne =
    " libtsrt runs TorchScript files; make one in Python from the model with its weights "
    "loaded: torch.jit.script(model).save(\"model.pt\")";

// The top-level object of a pickle written with protocol 2 (torch.save's), from its first
// opcode: "a state_dict", "a dict", "a pickled torchvision.models.resnet.ResNet"; "" if unclear.
std::string describe_pickle(const char *data, size_t size) {
    size_t at = 0;
    if (size >= 2 && static_cast<unsigned char>(data[0]) == 0x80) at = 2;  // PROTO n
    if (at >= size) return "";
    switch (data[at]) {
        case '}': return "a dict: a state_dict, or a training checkpoint with one inside";
        case ']': return "a list";
        case ')': return "a tuple";
        case 'c': {  // GLOBAL "module\nname\n": the class of the object being rebuilt
            std::string rest(data + at + 1, std::min<size_t>(size - at - 1, 400));
            size_t first = rest.find('\n');
            size_t second = first == std::string::npos ? first : rest.find('\n', first + 1);
            if (second == std::string::npos) return "";
            std::string module = rest.substr(0, first);
            std::string name = rest.substr(first + 1, second - first - 1);
            if (module == "collections" && name == "OrderedDict") return "a state_dict";
            return "a pickled " + module + "." + name;
        }
        default: return "";
    }
}

bool has_record_under(caffe2::serialize::PyTorchStreamReader &reader, const std::string &folder) {
    for (const std::string &record : reader.getAllRecords())
        if (record.compare(0, folder.size(), folder) == 0) return true;
    return false;
}

std::string export_hint(const std::string &weights) {
    return "; for a state_dict of a torchvision classifier: pyfront export --model NAME "
           "--weights " +
           weights + ".";
}

}  // namespace

namespace tsrt {

void reject_other_archives(caffe2::serialize::PyTorchStreamReader &reader,
                           const std::string &weights) {
    if (reader.hasRecord("archive_format") && !reader.hasRecord("constants.pkl"))
        fail(TSRT_ERR_BAD_MODEL,
             std::string("it is a torch.export archive (.pt2, from torch.export.save or "
                         "AOTInductor), not a TorchScript program.") +
                 kMakeOne + ".");
    if (!reader.hasRecord("data.pkl") || reader.hasRecord("constants.pkl") ||
        has_record_under(reader, "code/"))
        return;
    std::string holding;
    if (reader.getRecordSize("data.pkl") <= (1u << 20)) {
        auto [data, size] = reader.getRecord("data.pkl");
        holding = describe_pickle(static_cast<const char *>(data.get()), size);
    }
    fail(TSRT_ERR_BAD_MODEL, "it is a PyTorch checkpoint written by torch.save" +
                                 (holding.empty() ? "" : " (holding " + holding + ")") +
                                 ", not a TorchScript program." + kMakeOne + export_hint(weights));
}

void reject_other_formats(const unsigned char *head, size_t size, const std::string &weights) {
    // torch.save's format before PyTorch 1.6: a pickle (protocol 2) of its magic number,
    // the long 0x1950a86a20f9469cfc6c.
    static const unsigned char legacy[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c,
                                           0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
    if (size >= sizeof legacy && std::memcmp(head, legacy, sizeof legacy) == 0)
        fail(TSRT_ERR_BAD_MODEL,
             std::string("it is a PyTorch checkpoint written by torch.save in the legacy "
                         "format, not a TorchScript program.") +
                 kMakeOne + export_hint(weights));
    // An ONNX ModelProto: field 1 (ir_version, a small varint) first, then another field
    // of the message with a length-delimited or varint value (producer_name, graph, ...).
    if (size >= 3 && head[0] == 0x08 && head[1] >= 1 && head[1] < 0x80 &&
        std::strchr("\x12\x1a\x22\x28\x32\x3a\x42\x72", head[2]) != nullptr && head[2] != 0)
        fail(TSRT_ERR_BAD_MODEL,
             std::string("it is an ONNX model, not a TorchScript program: run it with ONNX "
                         "Runtime.") +
                 kMakeOne + ".");
}

}  // namespace tsrt
