// AOTInductor packages (.pt2): recognised by their content, checked, extracted into a private
// folder and run by libtorch's AOTIModelPackageLoader behind the same tsrt_model handle.
//
// A package holds a shared library of native code compiled by AOTInductor, which the loader
// maps into this process: none of the checks made on TorchScript files can contain it. What
// can be checked is checked before the loader sees anything: the zip archive (zip_archive.cpp),
// the CPU and instruction set the code was compiled for (a package built for AVX-512 on a CPU
// without it would die of SIGILL on its first call), and the device. The archive is extracted
// by this file, not by the loader, into a folder only this user can enter (mode 0700), which
// is removed when the model is closed.
#include <ATen/cpu/Utils.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "aoti_package.hpp"
#include "json.hpp"
#include "zip_archive.hpp"

using tsrt::fail;

namespace tsrt {

namespace {

const char *const kMarker = "data/aotinductor/";

uint32_t read32_le(const unsigned char *p) {
    return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
           (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
const char *const kModelFolder = "data/aotinductor/model/";
// pyfront export's second model of a package, compiled for batch 1 alone (export_pt2.py); the
// input shapes it was compiled for are recorded in the metadata under kBatch1Shapes.
const char *const kBatch1Model = "model_batch1";
const char *const kBatch1Shapes = "tsrt/batch1_shapes";

// A folder only this user can enter, made by mkdtemp, removed with everything in it when the
// object goes. Files are created inside it with O_EXCL | O_NOFOLLOW.
class PrivateDir {
   public:
    PrivateDir() {
        const char *base = std::getenv("TMPDIR");
        std::string pattern = std::string(base && *base ? base : "/tmp") + "/tsrt-pt2-XXXXXX";
        std::vector<char> buffer(pattern.begin(), pattern.end());
        buffer.push_back('\0');
        if (mkdtemp(buffer.data()) == nullptr) {
            int err = errno;
            fail(TSRT_ERR_IO, "cannot make a private folder for the .pt2 package in '" +
                                  std::string(base && *base ? base : "/tmp") + "': " +
                                  std::strerror(err) + " (set TMPDIR to a writable folder)");
        }
        path_ = buffer.data();
    }

    ~PrivateDir() {
        // Depth first, never following symbolic links.
        nftw(
            path_.c_str(),
            [](const char *path, const struct stat *, int, struct FTW *) { return remove(path); },
            16, FTW_DEPTH | FTW_PHYS);
    }

    PrivateDir(const PrivateDir &) = delete;
    PrivateDir &operator=(const PrivateDir &) = delete;

    const std::string &path() const { return path_; }

    // Writes `size` bytes as the file `name` (a checked relative path) inside the folder.
    void write(const std::string &name, const unsigned char *data, uint64_t size) const {
        std::string folder = path_;
        size_t start = 0, slash;
        while ((slash = name.find('/', start)) != std::string::npos) {
            folder.append("/").append(name, start, slash - start);
            if (mkdir(folder.c_str(), 0700) != 0 && errno != EEXIST) io_error(folder);
            struct stat info;
            if (lstat(folder.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) io_error(folder);
            start = slash + 1;
        }
        std::string file = path_ + "/" + name;
        int fd = open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) io_error(file);
        uint64_t written = 0;
        while (written < size) {
            ssize_t n = ::write(fd, data + written, static_cast<size_t>(size - written));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                int err = errno;
                close(fd);
                errno = err;
                io_error(file);
            }
            written += static_cast<uint64_t>(n);
        }
        if (close(fd) != 0) io_error(file);
    }

   private:
    [[noreturn]] static void io_error(const std::string &path) {
        int err = errno;
        fail(TSRT_ERR_IO,
             "cannot extract the .pt2 package into '" + path + "': " + std::strerror(err));
    }

    std::string path_;
};

// What the package's pytree spec says about one argument or result.
struct Spec {
    enum Kind { Tensor, Tuple, List, Other } kind = Other;
    std::string type;  // the pytree type name, for messages about unsupported ones
    std::vector<Spec> children;
};

Spec read_spec(const Json &node) {
    Spec spec;
    const Json *type = node.field("type");
    const Json *children = node.field("children_spec");
    if (type == nullptr || children == nullptr || children->kind != Json::Array)
        fail(TSRT_ERR_BAD_MODEL, "the .pt2 package's call spec is not a pytree spec");
    if (type->kind == Json::Null) {
        spec.kind = Spec::Tensor;
        return spec;
    }
    spec.type = type->kind == Json::String ? type->text : "?";
    spec.kind = spec.type == "builtins.tuple"  ? Spec::Tuple
                : spec.type == "builtins.list" ? Spec::List
                                               : Spec::Other;
    for (const Json &child : children->items) spec.children.push_back(read_spec(child));
    return spec;
}

// The spec's root: the version number first, then the tree.
Spec read_call_spec(const std::string &text, const std::string &what) {
    Json document = parse_json(text, what);
    if (document.kind != Json::Array || document.items.size() != 2)
        fail(TSRT_ERR_BAD_MODEL, "the .pt2 package's " + what + " is not a pytree spec");
    return read_spec(document.items[1]);
}

std::string describe_spec(const Spec &spec) {
    if (spec.kind == Spec::Tensor) return "Tensor";
    if (spec.kind == Spec::Other) return spec.type;
    std::string text = spec.kind == Spec::Tuple ? "Tuple[" : "List[";
    for (size_t i = 0; i < spec.children.size(); ++i)
        text += (i ? ", " : "") + describe_spec(spec.children[i]);
    return text + "]";
}

bool all_supported(const Spec &spec) {
    if (spec.kind == Spec::Other) return false;
    for (const Spec &child : spec.children)
        if (!all_supported(child)) return false;
    return true;
}

// The instruction-set names AOTInductor records (AOTI_CPU_ISA, from its VecISA classes) and the
// CPU features the code compiled for them uses (their compiler flags), as libtorch's cpuinfo
// names them.
struct IsaRequirement {
    const char *name;
    std::vector<const char *> features;
};

const std::vector<IsaRequirement> &isa_requirements() {
    static const std::vector<IsaRequirement> table = {
        {"AVX2", {"avx2", "fma3", "f16c"}},
        {"AVX512", {"avx512_f", "avx512_dq", "avx512_vl", "avx512_bw", "fma3"}},
        {"AVX512_VNNI", {"avx512_vnni"}},
        {"AMX_TILE", {"amx_tile", "amx_bf16", "amx_int8"}},
    };
    return table;
}

bool cpu_has(const std::unordered_map<std::string, c10::IValue> &caps, const char *feature) {
    auto found = caps.find(feature);
    return found != caps.end() && found->second.isBool() && found->second.toBool();
}

// Fails with TSRT_ERR_BAD_MODEL when the package was compiled for another kind of machine or
// for instructions this CPU lacks.
void check_machine(const std::map<std::string, std::string> &metadata) {
    const std::string rebuild =
        "; export the model again on a machine like this one (pyfront export --format pt2)";
    struct utsname host;
    auto machine = metadata.find("AOTI_MACHINE");
    if (machine != metadata.end() && !machine->second.empty() && uname(&host) == 0 &&
        machine->second != host.machine)
        fail(TSRT_ERR_BAD_MODEL, "the .pt2 package was compiled for " + machine->second +
                                     " machines, this one is " + host.machine + rebuild);
    auto platform = metadata.find("AOTI_PLATFORM");
    if (platform != metadata.end() && !platform->second.empty() && platform->second != "linux")
        fail(TSRT_ERR_BAD_MODEL,
             "the .pt2 package was compiled for " + platform->second + ", not linux" + rebuild);
    auto isa = metadata.find("AOTI_CPU_ISA");
    if (isa == metadata.end()) return;
    auto caps = at::cpu::get_cpu_capabilities();
    std::istringstream names(isa->second);
    std::string name;
    while (names >> name) {
        if (name.rfind("INVALID", 0) == 0) continue;  // no vector ISA: plain code
        const IsaRequirement *requirement = nullptr;
        for (const IsaRequirement &known : isa_requirements())
            if (name == known.name) requirement = &known;
        if (requirement == nullptr)
            fail(TSRT_ERR_BAD_MODEL,
                 "the .pt2 package's code was compiled for the instruction "
                 "set " +
                     name +
                     ", which this library cannot check this "
                     "CPU for, so it refuses to run it" +
                     rebuild);
        for (const char *feature : requirement->features)
            if (!cpu_has(caps, feature))
                fail(TSRT_ERR_BAD_MODEL, "the .pt2 package's code was compiled for " + isa->second +
                                             " instructions, but this CPU lacks " + feature +
                                             " (needed for " + name +
                                             "): running it would crash the process" + rebuild);
    }
}

// The compiler's instruction-set flags and the CPU feature each lets the code use, as
// libtorch's cpuinfo names them. Flags that select no instructions are in kNeutralFlags.
const std::map<std::string, const char *> &flag_features() {
    static const std::map<std::string, const char *> table = {
        {"-msse3", "sse3"},
        {"-mssse3", "ssse3"},
        {"-msse4.1", "sse4_1"},
        {"-msse4.2", "sse4_2"},
        {"-mavx", "avx"},
        {"-mavx2", "avx2"},
        {"-mfma", "fma3"},
        {"-mf16c", "f16c"},
        {"-mavx512f", "avx512_f"},
        {"-mavx512cd", "avx512_cd"},
        {"-mavx512dq", "avx512_dq"},
        {"-mavx512bw", "avx512_bw"},
        {"-mavx512vl", "avx512_vl"},
        {"-mavx512vnni", "avx512_vnni"},
        {"-mavx512bf16", "avx512_bf16"},
        {"-mavx512fp16", "avx512_fp16"},
        {"-mavx512vbmi", "avx512_vbmi"},
        {"-mavx512ifma", "avx512_ifma"},
        {"-mavx5124fmaps", "avx512_4fmaps"},
        {"-mavxvnni", "avx_vnni"},
        {"-mamx-tile", "amx_tile"},
        {"-mamx-bf16", "amx_bf16"},
        {"-mamx-int8", "amx_int8"},
        {"-mamx-fp16", "amx_fp16"},
    };
    return table;
}

bool neutral_flag(const std::string &flag) {
    return flag == "-m64" || flag.rfind("-mtune=", 0) == 0 || flag.rfind("-mno-", 0) == 0 ||
           flag.rfind("-march=", 0) == 0;
}

// AOTInductor leaves the commands that compiled the package's code as comments in its C++
// sources ("// g++ x.cpp ... -mavx512f ... -o x.o"). Every instruction-set flag in them must
// name a feature this CPU has; a flag this library does not know refuses the package, since
// what it enables cannot be checked. (-march=native, Inductor's default, lets the compiler use
// anything the compiling CPU had, which no package records: pyfront export turns it off.)
void check_compile_flags(const std::string &source) {
    auto caps = at::cpu::get_cpu_capabilities();
    size_t start = 0;
    while (start < source.size()) {
        size_t end = source.find('\n', start);
        if (end == std::string::npos) end = source.size();
        std::string line = source.substr(start, end - start);
        start = end + 1;
        if (line.rfind("// ", 0) != 0 || line.find(" -o ") == std::string::npos) continue;
        std::istringstream words(line.substr(3));
        std::string word;
        while (words >> word) {
            if (word.rfind("-m", 0) != 0 || neutral_flag(word)) continue;
            auto known = flag_features().find(word);
            if (known == flag_features().end())
                fail(TSRT_ERR_BAD_MODEL, "the .pt2 package's code was compiled with " + word +
                                             ", an instruction-set flag this library cannot "
                                             "check this CPU for, so it refuses to run it");
            if (!cpu_has(caps, known->second))
                fail(TSRT_ERR_BAD_MODEL, "the .pt2 package's code was compiled with " + word +
                                             ", but this CPU lacks " + known->second +
                                             ": running it would crash the process; export the "
                                             "model again on a machine like this one");
        }
    }
}

// The package's model folder prefix ("<archive>/") and the model's metadata document, from
// the checked members.
struct Layout {
    std::string prefix;
    std::string metadata_member;
    bool has_batch1_model = false;
};

Layout find_layout(const std::vector<ZipMember> &members) {
    Layout layout;
    std::vector<std::string> models;
    bool found_model = false;
    for (const ZipMember &member : members) {
        size_t at = member.name.find(kMarker);
        if (at == std::string::npos) continue;
        std::string prefix = member.name.substr(0, at);
        std::string rest = member.name.substr(at + std::strlen(kMarker));
        std::string model = rest.substr(0, rest.find('/'));
        if (std::find(models.begin(), models.end(), model) == models.end()) models.push_back(model);
        if (model == kBatch1Model) layout.has_batch1_model = true;
        if (member.name.compare(at, std::strlen(kModelFolder), kModelFolder) != 0) continue;
        found_model = true;
        layout.prefix = prefix;
        const std::string suffix = ".wrapper_metadata.json";
        if (member.name.size() > suffix.size() &&
            member.name.compare(member.name.size() - suffix.size(), suffix.size(), suffix) == 0)
            layout.metadata_member = member.name;
    }
    if (!found_model) {
        std::string names;
        for (const std::string &model : models) names += (names.empty() ? "" : ", ") + model;
        fail(TSRT_ERR_BAD_MODEL,
             "the .pt2 package holds no AOTInductor model named 'model' (it has: " + names +
                 "); libtsrt runs the model aoti_compile_and_package writes by default");
    }
    return layout;
}

std::map<std::string, std::string> read_metadata(const unsigned char *data,
                                                 const std::vector<ZipMember> &members,
                                                 const Layout &layout) {
    std::map<std::string, std::string> metadata;
    for (const ZipMember &member : members) {
        if (member.name != layout.metadata_member) continue;
        if (member.size > (64u << 20))
            fail(TSRT_ERR_BAD_MODEL, "the .pt2 package's metadata is larger than 64 MiB");
        std::string text(reinterpret_cast<const char *>(data + member.offset), member.size);
        Json document = parse_json(text, "metadata");
        if (document.kind != Json::Object)
            fail(TSRT_ERR_BAD_MODEL, "the .pt2 package's metadata is not a JSON object");
        for (const auto &[key, value] : document.fields)
            if (value.kind == Json::String) metadata[key] = value.text;
    }
    return metadata;
}

// AOTInductor's compiled code checks the sizes, strides and dtypes of its inputs only when
// this variable is set (it reads it once per package library); without the checks, an input
// of the wrong shape makes it read out of bounds. Set once, before the first package's code is
// loaded, unless the caller set it.
void enable_input_checks() {
    static std::once_flag once;
    std::call_once(once, [] { setenv("AOTI_RUNTIME_CHECK_INPUTS", "1", /*overwrite=*/0); });
}

// The input of a bfloat16 package's check, as pyfront export makes it: element i of the
// flattened tensor is (the top 24 bits of i * 2654435761 mod 2^32) / 2^24, values in [0, 1)
// that float32 holds exactly, so that Python and C++ make the same tensor without sharing a
// random generator.
at::Tensor check_input(const std::vector<int64_t> &shape) {
    at::Tensor input = at::empty(shape, at::kFloat);
    float *values = input.data_ptr<float>();
    for (int64_t i = 0; i < input.numel(); ++i)
        values[i] = static_cast<float>((static_cast<uint32_t>(i) * 2654435761u) >> 8) / 16777216.0f;
    return input;
}

// What a package's metadata says about its precision: pyfront export records
// "tsrt/precision" = "bf16" for a model compiled in bfloat16 (float32 in, float32 out), with
// "tsrt/precision_check", the float32 model's results on check_input of a recorded shape.
struct RecordedPrecision {
    bool bf16 = false;
    std::vector<int64_t> shape;
    std::vector<float> float32;
};

RecordedPrecision read_precision(const std::map<std::string, std::string> &metadata) {
    RecordedPrecision recorded;
    auto precision = metadata.find("tsrt/precision");
    if (precision == metadata.end() || precision->second == "fp32") return recorded;
    if (precision->second != "bf16")
        fail(TSRT_ERR_BAD_MODEL, "the .pt2 package records the precision '" + precision->second +
                                     "', which libtsrt does not know (fp32 or bf16)");
    recorded.bf16 = true;
    auto check = metadata.find("tsrt/precision_check");
    const std::string missing =
        "the .pt2 package records bfloat16 but not the float32 results to verify it with "
        "(tsrt/precision_check)";
    if (check == metadata.end()) fail(TSRT_ERR_BAD_MODEL, missing);
    Json document = parse_json(check->second, "tsrt/precision_check");
    const Json *shape = document.field("shape");
    const Json *results = document.field("float32");
    if (!shape || shape->kind != Json::Array || shape->items.empty() || shape->items.size() > 8 ||
        !results || results->kind != Json::Array)
        fail(TSRT_ERR_BAD_MODEL, missing + ": it has no shape and float32 list");
    int64_t count = 1;
    for (const Json &size : shape->items) {
        if (size.kind != Json::Number || size.number < 1 || size.number > (1 << 20) ||
            size.number != static_cast<double>(static_cast<int64_t>(size.number)))
            fail(TSRT_ERR_BAD_MODEL, missing + ": its shape is not a list of sizes");
        recorded.shape.push_back(static_cast<int64_t>(size.number));
        count *= recorded.shape.back();
        if (count > (int64_t{1} << 26))
            fail(TSRT_ERR_BAD_MODEL, missing + ": its shape is larger than 2^26 elements");
    }
    for (const Json &value : results->items) {
        if (value.kind != Json::Number)
            fail(TSRT_ERR_BAD_MODEL, missing + ": its float32 list holds a non-number");
        recorded.float32.push_back(static_cast<float>(value.number));
    }
    return recorded;
}

// The input shapes of the package's batch-1 model, as pyfront export records them: a JSON list
// of shapes, each a list of sizes. Empty when not recorded (the model is then not used).
std::vector<std::vector<int64_t>> read_batch1_shapes(
    const std::map<std::string, std::string> &metadata) {
    std::vector<std::vector<int64_t>> shapes;
    auto recorded = metadata.find(kBatch1Shapes);
    if (recorded == metadata.end()) return shapes;
    const std::string bad = std::string("the .pt2 package's ") + kBatch1Shapes +
                            " is not a list of input shapes; export the package again";
    Json document = parse_json(recorded->second, kBatch1Shapes);
    if (document.kind != Json::Array || document.items.empty() || document.items.size() > 64)
        fail(TSRT_ERR_BAD_MODEL, bad);
    for (const Json &shape : document.items) {
        if (shape.kind != Json::Array || shape.items.size() > 16) fail(TSRT_ERR_BAD_MODEL, bad);
        shapes.emplace_back();
        for (const Json &size : shape.items) {
            if (size.kind != Json::Number || size.number < 0 || size.number > 1e12 ||
                size.number != static_cast<double>(static_cast<int64_t>(size.number)))
                fail(TSRT_ERR_BAD_MODEL, bad);
            shapes.back().push_back(static_cast<int64_t>(size.number));
        }
    }
    return shapes;
}

// Runs a bfloat16 package on the check input and compares its first result with the float32
// results recorded at export, as a bfloat16 TorchScript model is compared with float32 at
// load; the CPU running it may not be the one it was compiled and checked on.
void verify_bf16(torch::inductor::AOTIModelPackageLoader &loader,
                 const RecordedPrecision &recorded) {
    std::vector<at::Tensor> outputs;
    {
        c10::InferenceMode inference;
        try {
            outputs = loader.run({check_input(recorded.shape)});
        } catch (const c10::Error &e) {
            fail(TSRT_ERR_BAD_MODEL,
                 std::string("the .pt2 package failed on its bfloat16 check: ") +
                     e.what_without_backtrace());
        } catch (const std::exception &e) {
            fail(TSRT_ERR_BAD_MODEL,
                 std::string("the .pt2 package failed on its bfloat16 check: ") + e.what());
        }
    }
    if (outputs.empty() || outputs[0].scalar_type() != at::kFloat ||
        outputs[0].numel() != static_cast<int64_t>(recorded.float32.size()))
        fail(TSRT_ERR_BAD_MODEL,
             "the .pt2 package's result on its bfloat16 check is not the float32 tensor of " +
                 std::to_string(recorded.float32.size()) + " values recorded at export");
    at::Tensor expected =
        at::from_blob(const_cast<float *>(recorded.float32.data()), outputs[0].sizes(), at::kFloat)
            .clone();
    std::string differs =
        compare_results(c10::IValue(outputs[0]), c10::IValue(expected), kBf16Tolerance);
    if (!differs.empty())
        fail(TSRT_ERR_BAD_MODEL,
             "the .pt2 package was compiled in bfloat16, and on this CPU its results differ from "
             "the float32 results recorded when it was compiled by more than the tolerance "
             "tsrt.h states (" +
                 differs + "); compile it in float32 (pyfront export --format pt2)");
}

}  // namespace

struct Pt2Package {
    std::unique_ptr<PrivateDir> folder;
    std::unique_ptr<torch::inductor::AOTIModelPackageLoader> loader;
    // The same program compiled for batch 1 alone, run for inputs of exactly batch1_shapes
    // (null when the package has no such model).
    std::unique_ptr<torch::inductor::AOTIModelPackageLoader> batch1;
    std::vector<std::vector<int64_t>> batch1_shapes;
    Spec inputs;              // the positional arguments' tuple
    Spec outputs;             // the result
    std::string unsupported;  // why calls cannot run, when the spec has what they cannot take

    ~Pt2Package() {
        batch1.reset();
        loader.reset();  // unloads the package's library before its file goes
        folder.reset();
    }
};

void Pt2PackageDeleter::operator()(Pt2Package *package) const noexcept {
    try {
        delete package;
    } catch (...) {
        // Unloading raised: nothing more can be freed.
    }
}

bool looks_like_aoti_package(const unsigned char *data, size_t size) {
    for (const std::string &name : zip_member_names(data, size))
        if (name.find(kMarker) != std::string::npos) return true;
    // A truncated package has lost its directory; its first member still names the layout.
    if (size >= 30 && read32_le(data) == 0x04034b50) {
        size_t length = static_cast<size_t>(data[26] | (data[27] << 8));
        if (30 + length <= size &&
            std::string(reinterpret_cast<const char *>(data + 30), length).find(kMarker) !=
                std::string::npos)
            return true;
    }
    return false;
}

tsrt_model *load_aoti_package(const unsigned char *data, size_t size, c10::Device device,
                              const tsrt_options *options) {
    std::vector<ZipMember> members = read_zip_members(data, size);
    Layout layout = find_layout(members);
    std::map<std::string, std::string> metadata = read_metadata(data, members, layout);
    auto key = metadata.find("AOTI_DEVICE_KEY");
    std::string compiled_for = key != metadata.end() && !key->second.empty() ? key->second : "cpu";
    if (compiled_for != c10::DeviceTypeName(device.type(), /*lower_case=*/true))
        fail(TSRT_ERR_DEVICE, "the .pt2 package was compiled for the device '" + compiled_for +
                                  "', and runs only there (asked for '" + device.str() + "')");
    if (!device.is_cpu()) fail(TSRT_ERR_DEVICE, "libtsrt runs .pt2 packages on the CPU only");
    check_machine(metadata);
    for (const ZipMember &member : members) {
        const std::string suffix = ".cpp";
        if (member.name.size() > suffix.size() &&
            member.name.compare(member.name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
            member.name.find(kMarker) != std::string::npos && member.size <= (256u << 20))
            check_compile_flags(
                std::string(reinterpret_cast<const char *>(data + member.offset), member.size));
    }

    auto package = std::unique_ptr<Pt2Package, Pt2PackageDeleter>(new Pt2Package());
    package->folder = std::make_unique<PrivateDir>();
    for (const ZipMember &member : members)
        package->folder->write(member.name, data + member.offset, member.size);
    enable_input_checks();
    auto load = [&](const char *name) {
        try {
            return std::make_unique<torch::inductor::AOTIModelPackageLoader>(
                package->folder->path() + "/" + layout.prefix, name);
        } catch (const c10::Error &e) {
            fail(TSRT_ERR_BAD_MODEL,
                 std::string("PyTorch's package loader refused it: ") + e.what_without_backtrace());
        } catch (const std::exception &e) {
            fail(TSRT_ERR_BAD_MODEL,
                 std::string("PyTorch's package loader refused it: ") + e.what());
        }
    };
    package->loader = load("model");
    if (layout.has_batch1_model) {
        package->batch1_shapes = read_batch1_shapes(metadata);
        if (!package->batch1_shapes.empty()) package->batch1 = load(kBatch1Model);
    }
    RecordedPrecision recorded = read_precision(metadata);
    if (recorded.bf16) {
        verify_bf16(*package->loader, recorded);
        if (package->batch1) verify_bf16(*package->batch1, recorded);
    }
    std::vector<std::string> call_spec = package->loader->get_call_spec();
    if (call_spec.size() != 2)
        fail(TSRT_ERR_BAD_MODEL, "the .pt2 package's call spec has " +
                                     std::to_string(call_spec.size()) + " parts, not 2");
    Spec in = read_call_spec(call_spec[0], "input spec");
    package->outputs = read_call_spec(call_spec[1], "output spec");
    if (in.kind != Spec::Tuple || in.children.size() != 2 || in.children[0].kind != Spec::Tuple)
        fail(TSRT_ERR_BAD_MODEL, "the .pt2 package's input spec is not (args, kwargs)");
    package->inputs = in.children[0];
    if (!in.children[1].children.empty())
        package->unsupported = "its forward takes keyword arguments";
    else if (!all_supported(package->inputs))
        package->unsupported = "its forward takes " + describe_spec(package->inputs);
    else if (!all_supported(package->outputs))
        package->unsupported = "its forward returns " + describe_spec(package->outputs);
    if (!package->unsupported.empty())
        package->unsupported +=
            "; libtsrt runs packages whose arguments and results are tensors, or tuples and "
            "lists of them";

    auto model = std::make_unique<tsrt_model>(torch::jit::Module(), device, device.str());
    model->format = TSRT_FORMAT_AOTI_PACKAGE;
    model->keeps_state = false;  // AOTInductor's container serialises its own runs
    model->frozen = true;        // weights are constants of the compiled code
    model->debug_info = options && options->debug_info;
    for (const auto &[name, value] : metadata)
        if (name.rfind("AOTI_", 0) != 0 && name != kBatch1Shapes) model->extra_files[name] = value;
    for (const auto &entry : model->extra_files) model->extra_file_names.push_back(&entry.first);
    std::string arguments;
    for (size_t i = 0; i < package->inputs.children.size(); ++i)
        arguments += (i ? ", " : "") + describe_spec(package->inputs.children[i]) + " arg" +
                     std::to_string(i);
    model->method_names = {"forward"};
    model->schemas["forward"] = "forward(" + arguments + ") -> " + describe_spec(package->outputs);
    describe_recorded(*model);
    model->precision = recorded.bf16 ? TSRT_PRECISION_BF16 : TSRT_PRECISION_FP32;
    tsrt_precision asked = options ? options->precision : TSRT_PRECISION_FP32;
    if (recorded.bf16 ? asked == TSRT_PRECISION_FP32 : asked != TSRT_PRECISION_FP32)
        model->precision_note =
            std::string("a .pt2 package runs with the precision it was compiled with (") +
            (recorded.bf16 ? "bfloat16" : "float32") + " here)";
    model->package = std::move(package);
    return model.release();
}

namespace {

void flatten(const c10::IValue &value, const Spec &spec, const std::string &where,
             std::vector<at::Tensor> &out) {
    if (spec.kind == Spec::Tensor) {
        if (!value.isTensor())
            fail(TSRT_ERR_INVALID_ARGUMENT, where + " is " + value.type()->str() +
                                                ", but the .pt2 package's forward takes a "
                                                "Tensor there");
        out.push_back(value.toTensor().contiguous());
        return;
    }
    bool fits = (spec.kind == Spec::Tuple && value.isTuple()) ||
                (spec.kind == Spec::List && value.isList());
    if (!fits)
        fail(TSRT_ERR_INVALID_ARGUMENT, where + " is " + value.type()->str() +
                                            ", but the .pt2 package's forward takes " +
                                            describe_spec(spec) + " there");
    std::vector<c10::IValue> items =
        value.isTuple() ? value.toTupleRef().elements().vec() : value.toListRef().vec();
    if (items.size() != spec.children.size())
        fail(TSRT_ERR_INVALID_ARGUMENT, where + " has " + std::to_string(items.size()) +
                                            " items, but the .pt2 package's forward takes " +
                                            describe_spec(spec) + " there");
    for (size_t i = 0; i < items.size(); ++i)
        flatten(items[i], spec.children[i], where + "[" + std::to_string(i) + "]", out);
}

c10::IValue rebuild(const Spec &spec, std::vector<at::Tensor> &outputs, size_t &next) {
    if (spec.kind == Spec::Tensor) {
        if (next >= outputs.size())
            fail(TSRT_ERR_FORWARD, "the .pt2 package returned fewer tensors than its spec lists");
        return c10::IValue(outputs[next++]);
    }
    std::vector<c10::IValue> items;
    for (const Spec &child : spec.children) items.push_back(rebuild(child, outputs, next));
    if (spec.kind == Spec::Tuple) return c10::ivalue::Tuple::create(std::move(items));
    c10::impl::GenericList list(c10::AnyType::get());
    for (c10::IValue &item : items) list.push_back(std::move(item));
    return c10::IValue(list);
}

}  // namespace

namespace {

// describe_call_failure's message, with the way out when the compiled code's input check
// refused a size of 1 (or 0): torch.export assumes dynamic sizes are at least 2, and
// AOTInductor checks that bound unless compiled with aot_inductor.check_lowerbound=False.
std::string describe_package_failure(const tsrt_model &model, const std::vector<c10::IValue> &args,
                                     const std::string &raw) {
    std::string message = describe_call_failure(model, "forward", args.data(), args.size(), raw);
    if (raw.find("dim value is too small") != std::string::npos &&
        raw.find("expected it to be >= 2") != std::string::npos)
        message +=
            " (the package was compiled assuming dynamic sizes of at least 2, as torch.export "
            "does; compile it with inductor_configs={\"aot_inductor.check_lowerbound\": False} "
            "to accept 1, as pyfront export --format pt2 does)";
    return message;
}

}  // namespace

c10::IValue run_aoti_package(tsrt_model &model, const char *name,
                             const std::vector<c10::IValue> &args) {
    if (std::strcmp(name, "forward") != 0)
        fail(TSRT_ERR_NO_SUCH_NAME, std::string("the model has no method '") + name +
                                        "' (a .pt2 package has only forward)");
    Pt2Package &package = *model.package;
    if (!package.unsupported.empty())
        fail(TSRT_ERR_UNSUPPORTED, "libtsrt cannot call this .pt2 package: " + package.unsupported);
    if (args.size() != package.inputs.children.size())
        fail(TSRT_ERR_INVALID_ARGUMENT, "forward takes " +
                                            std::to_string(package.inputs.children.size()) +
                                            " argument(s), got " + std::to_string(args.size()) +
                                            ": " + model.schemas.at("forward"));
    std::vector<at::Tensor> inputs;
    for (size_t i = 0; i < args.size(); ++i)
        flatten(args[i], package.inputs.children[i], "argument " + std::to_string(i), inputs);
    // The batch-1 model for inputs of exactly the shapes it was compiled for.
    bool batch1 = package.batch1 && inputs.size() == package.batch1_shapes.size();
    for (size_t i = 0; batch1 && i < inputs.size(); ++i)
        batch1 = inputs[i].sizes() == c10::IntArrayRef(package.batch1_shapes[i]);
    std::vector<at::Tensor> outputs;
    try {
        outputs = (batch1 ? package.batch1 : package.loader)->run(inputs);
    } catch (const c10::OutOfMemoryError &) {
        throw;
    } catch (const c10::Error &e) {
        fail(TSRT_ERR_FORWARD, describe_package_failure(model, args, e.what_without_backtrace()));
    } catch (const std::exception &e) {
        fail(TSRT_ERR_FORWARD, describe_package_failure(model, args, e.what()));
    }
    size_t next = 0;
    c10::IValue result = rebuild(package.outputs, outputs, next);
    if (next != outputs.size())
        fail(TSRT_ERR_FORWARD, "the .pt2 package returned " + std::to_string(outputs.size()) +
                                   " tensors, but its spec lists " + std::to_string(next));
    return result;
}

}  // namespace tsrt
