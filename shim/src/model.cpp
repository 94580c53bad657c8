// Loading and freeing models.
#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/read_adapter_interface.h>
#include <torch/csrc/api/include/torch/cuda.h>
#include <torch/csrc/jit/serialization/import.h>

#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <memory>
#include <new>
#include <string>

#include "aoti_package.hpp"
#include "internal.hpp"
#include "zip_archive.hpp"

using tsrt::fail;
using tsrt::guarded;
using tsrt::require;

namespace {

// Reads a caller's buffer in place, so a load from memory needs no copy of the file. The
// caller's bytes are only borrowed for the call: `detach` cuts the adapter off from them
// before returning, so a reader kept alive inside libtorch can never touch them afterwards.
class BorrowedBytes final : public caffe2::serialize::ReadAdapterInterface {
   public:
    BorrowedBytes(const void *data, size_t size)
        : data_(static_cast<const char *>(data)), size_(size) {}

    size_t size() const override { return size_; }

    size_t read(uint64_t pos, void *buf, size_t n, const char * /*what*/) const override {
        if (data_ == nullptr || pos >= size_) return 0;
        size_t available = size_ - static_cast<size_t>(pos);
        if (n > available) n = available;
        std::memcpy(buf, data_ + pos, n);
        return n;
    }

    void detach() {
        data_ = nullptr;
        size_ = 0;
    }

   private:
    const char *data_;
    size_t size_;
};

c10::Device resolve_device(const tsrt_options *options) {
    c10::Device device(options ? options->device : std::string("cpu"));
    if (device.is_cuda()) {
        int available = torch::cuda::device_count();
        if (available == 0)
            fail(TSRT_ERR_DEVICE, "device '" + device.str() +
                                      "' requested but CUDA is not available (no CUDA device, "
                                      "or libtorch was built without CUDA)");
        if (device.has_index() && device.index() >= available)
            fail(TSRT_ERR_DEVICE, "device '" + device.str() + "' requested but only " +
                                      std::to_string(available) + " CUDA device(s) exist");
        if (!device.has_index()) device = c10::Device(c10::kCUDA, 0);
    }
    return device;
}

// The names of the extra files stored in a TorchScript archive ("extra/<name>" records):
// torch::jit::load reads only the extra files it is asked for by name.
torch::jit::ExtraFilesMap list_extra_files(caffe2::serialize::PyTorchStreamReader &reader) {
    static const std::string prefix = "extra/";
    torch::jit::ExtraFilesMap extra;
    for (const std::string &record : reader.getAllRecords())
        if (record.compare(0, prefix.size(), prefix) == 0 && record.size() > prefix.size())
            extra[record.substr(prefix.size())] = "";
    return extra;
}

// Opens the file's zip archive; a file that is none, or an archive that is not a TorchScript
// program, fails naming what it is when it is a format often mistaken for one. `head` gives
// the first bytes of the file, `weights` the name to suggest as export's --weights.
template <class Open, class Head>
std::unique_ptr<caffe2::serialize::PyTorchStreamReader> open_archive(Open &&open, Head &&head,
                                                                     const std::string &weights) {
    std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
    try {
        reader = open();
    } catch (const c10::Error &) {
        std::string first = head();
        tsrt::reject_other_formats(reinterpret_cast<const unsigned char *>(first.data()),
                                   first.size(), weights);
        throw;
    }
    tsrt::reject_other_archives(*reader, weights);
    return reader;
}

std::string first_bytes(const char *path) {
    char buffer[16];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return "";
    ssize_t got = read(fd, buffer, sizeof buffer);
    close(fd);
    return got > 0 ? std::string(buffer, static_cast<size_t>(got)) : "";
}

tsrt_model *finish_model(torch::jit::Module module, c10::Device device,
                         torch::jit::ExtraFilesMap extra, const tsrt_options *options) {
    tsrt::check_tensors_fit_storage(module);
    module.eval();
    auto model = std::make_unique<tsrt_model>(std::move(module), device, device.str());
    model->debug_info = options && options->debug_info;
    for (auto &[name, content] : extra) model->extra_files[name] = std::move(content);
    for (const auto &entry : model->extra_files) model->extra_file_names.push_back(&entry.first);
    tsrt::describe_model(*model);
    tsrt::optimise_for_inference(*model, options);
    return model.release();
}

// "torchvision::nms" when libtorch's report says the code calls an operator that no loaded
// library registered; "" otherwise.
std::string missing_operator(const std::string &report) {
    static const std::string marker = "Unknown builtin op: ";
    size_t at = report.find(marker);
    if (at == std::string::npos) return "";
    size_t start = at + marker.size();
    size_t end = start;
    while (end < report.size() && (std::isalnum(static_cast<unsigned char>(report[end])) ||
                                   report[end] == '_' || report[end] == ':'))
        ++end;
    return report.substr(start, end - start);
}

std::string describe_missing_operator(const std::string &op) {
    std::string message = "it calls the operator " + op +
                          ", which no loaded library registers; load the library that "
                          "registers it before the model, with tsrt_load_library "
                          "(pyfront.load_library in Python)";
    if (op.rfind("torchvision::", 0) == 0)
        message +=
            ". torchvision's operators: in Python, install the torchvision package "
            "matching torch (pyfront then finds them itself); from C, build them with "
            "scripts/build_torchvision_ops.sh and load the library it writes (pyfront "
            "config --torchvision-ops prints its path)";
    return message;
}

// "cannot load <what> as a TorchScript module: <cause>", the cause being the first non-empty
// line of libtorch's report, which follows in full when it has more lines.
std::string describe_load_failure(const std::string &what, const std::string &raw) {
    size_t start = raw.find_first_not_of(" \n");
    std::string trimmed = start == std::string::npos ? std::string() : raw.substr(start);
    std::string cause = trimmed.substr(0, trimmed.find('\n'));
    std::string missing = missing_operator(trimmed);
    if (!missing.empty()) cause = describe_missing_operator(missing);
    std::string message = "cannot load " + what + " as a TorchScript module: " + cause;
    if (cause.size() < trimmed.size()) message += "\n\n" + trimmed;
    return message;
}

// Runs a libtorch load step: what libtorch raises, and a bad model the shim finds, become
// TSRT_ERR_BAD_MODEL naming `what`; other failures pass through unchanged.
template <class Step>
auto load_step(const std::string &what, Step &&step) -> decltype(step()) {
    try {
        return step();
    } catch (...) {
        tsrt::Translation failure = tsrt::translate_current_exception(TSRT_ERR_BAD_MODEL);
        if (failure.from_libtorch)
            fail(failure.status, describe_load_failure(what, failure.message));
        if (failure.status != TSRT_ERR_BAD_MODEL) throw;
        fail(failure.status, "cannot load " + what + ": " + failure.message);
    }
}

bool wants_debug_info(const tsrt_options *options) { return options && options->debug_info; }

void check_size_limit(uint64_t size, const tsrt_options *options, const std::string &what) {
    if (options && options->max_file_size && size > options->max_file_size)
        fail(TSRT_ERR_TOO_LARGE, what + " is " + std::to_string(size) +
                                     " bytes, more than the limit of " +
                                     std::to_string(options->max_file_size) + " bytes");
}

// Gives a precise reason for a path that cannot be a model file, before libtorch tries it.
void check_model_path(const char *path, const tsrt_options *options) {
    struct stat info;
    if (stat(path, &info) != 0) {
        int err = errno;
        if (err == ENOENT || err == ENOTDIR)
            fail(TSRT_ERR_NOT_FOUND, std::string("model file not found: '") + path + "'");
        fail(TSRT_ERR_IO,
             std::string("cannot access model file '") + path + "': " + std::strerror(err));
    }
    if (S_ISDIR(info.st_mode))
        fail(TSRT_ERR_IO, std::string("'") + path + "' is a directory, not a model file");
    if (!S_ISREG(info.st_mode))
        fail(TSRT_ERR_IO, std::string("'") + path + "' is not a regular file");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        fail(TSRT_ERR_IO,
             std::string("cannot read model file '") + path + "': " + std::strerror(err));
    }
    close(fd);
    check_size_limit(static_cast<uint64_t>(info.st_size), options,
                     std::string("model file '") + path + "'");
    if (info.st_size == 0)
        fail(TSRT_ERR_BAD_MODEL, std::string("'") + path + "' is empty, not a TorchScript file");
}

// A model file's bytes, read into memory for the duration of a load, to check its archive and
// to recognise and read an AOTInductor package. Read, not mapped: a file rewritten in place
// while it loads (`cp` truncates before it writes) would turn reads of a mapping past its new
// end into SIGBUS, a crash; read(2) returns fewer bytes instead, and the checks refuse a
// truncated archive. Empty (data() null) when the file cannot be opened or read, which
// libtorch's own reader then reports.
class FileBytes {
   public:
    explicit FileBytes(const char *path) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) return;
        struct stat info;
        if (fstat(fd, &info) == 0 && S_ISREG(info.st_mode) && info.st_size > 0) {
            size_t wanted = static_cast<size_t>(info.st_size);
            std::unique_ptr<unsigned char[]> buffer(new (std::nothrow) unsigned char[wanted]);
            size_t got = 0;
            while (buffer && got < wanted) {
                ssize_t n = read(fd, buffer.get() + got, wanted - got);
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) break;  // shortened while read, or an I/O error
                got += static_cast<size_t>(n);
            }
            if (buffer && got > 0) {
                data_ = std::move(buffer);
                size_ = got;
            }
        }
        close(fd);
    }

    const unsigned char *data() const { return data_.get(); }
    size_t size() const { return size_; }

   private:
    std::unique_ptr<unsigned char[]> data_;
    size_t size_ = 0;
};

// Loads an AOTInductor package, naming `what` in failures of the archive and the package.
// Checks a TorchScript file's zip archive before libtorch reads it (zip_archive.cpp says
// what). Bytes without a zip end record are left to libtorch and reject_other_formats, whose
// messages say what such a file is.
void check_torchscript_archive(const std::string &what, const unsigned char *data, size_t size) {
    if (!tsrt::has_zip_directory(data, size)) return;
    try {
        tsrt::read_zip_members(data, size, tsrt::ArchiveKind::TorchScript);
    } catch (const tsrt::Error &e) {
        fail(e.status, "cannot load " + what + ": " + e.message);
    }
}

tsrt_model *load_package_step(const std::string &what, const unsigned char *data, size_t size,
                              c10::Device device, const tsrt_options *options) {
    try {
        return tsrt::load_aoti_package(data, size, device, options);
    } catch (const tsrt::Error &e) {
        fail(e.status, "cannot load " + what + " as an AOTInductor package: " + e.message);
    }
}

}  // namespace

namespace tsrt {

namespace {

void leave(tsrt_model &model) {
    if (--model.in_flight == 0 && model.closed.load()) {
        std::lock_guard<std::mutex> lock(model.close_lock);
        model.idle.notify_all();
    }
}

}  // namespace

InFlight::InFlight(tsrt_model &model) : model_(model) {
    ++model_.in_flight;
    if (model_.closed.load()) {
        leave(model_);
        fail(TSRT_ERR_CLOSED, "the model is closed");
    }
}

InFlight::~InFlight() { leave(model_); }

}  // namespace tsrt

extern "C" {

int tsrt_model_load(const char *path, const tsrt_options *options, tsrt_model **out) {
    return guarded(TSRT_ERR_BAD_MODEL, "cannot load the model", [&] {
        require(path != nullptr, "path is NULL");
        require(out != nullptr, "out is NULL");
        c10::Device device = resolve_device(options);
        check_model_path(path, options);
        const std::string what = std::string("'") + path + "'";
        {
            FileBytes file(path);  // freed before libtorch reads the file
            if (file.data() && tsrt::looks_like_aoti_package(file.data(), file.size())) {
                *out = load_package_step(what, file.data(), file.size(), device, options);
                return;
            }
            if (file.data()) check_torchscript_archive(what, file.data(), file.size());
        }
        *out = load_step(what, [&] {
            auto reader = open_archive(
                [&] { return std::make_unique<caffe2::serialize::PyTorchStreamReader>(path); },
                [&] { return first_bytes(path); }, path);
            torch::jit::ExtraFilesMap extra = list_extra_files(*reader);
            torch::jit::Module module =
                torch::jit::load(std::string(path), device, extra, wants_debug_info(options));
            return finish_model(std::move(module), device, std::move(extra), options);
        });
    });
}

int tsrt_model_load_buffer(const void *data, size_t size, const tsrt_options *options,
                           tsrt_model **out) {
    return guarded(TSRT_ERR_BAD_MODEL, "cannot load the buffer as a TorchScript module", [&] {
        require(data != nullptr || size == 0, "data is NULL");
        require(out != nullptr, "out is NULL");
        c10::Device device = resolve_device(options);
        check_size_limit(size, options, "the buffer");
        if (size == 0) fail(TSRT_ERR_BAD_MODEL, "the buffer is empty, not a TorchScript file");
        const auto *bytes_in = static_cast<const unsigned char *>(data);
        if (tsrt::looks_like_aoti_package(bytes_in, size)) {
            *out = load_package_step("the buffer", bytes_in, size, device, options);
            return;
        }
        check_torchscript_archive("the buffer", bytes_in, size);
        auto bytes = std::make_shared<BorrowedBytes>(data, size);
        struct DetachOnExit {
            BorrowedBytes &bytes;
            ~DetachOnExit() { bytes.detach(); }
        } detach_on_exit{*bytes};
        *out = load_step("the buffer", [&] {
            auto reader = open_archive(
                [&] { return std::make_unique<caffe2::serialize::PyTorchStreamReader>(bytes); },
                [&] {
                    return std::string(static_cast<const char *>(data), std::min<size_t>(size, 16));
                },
                "FILE");
            torch::jit::ExtraFilesMap extra = list_extra_files(*reader);
            torch::jit::Module module =
                torch::jit::load(bytes, device, extra, wants_debug_info(options));
            return finish_model(std::move(module), device, std::move(extra), options);
        });
    });
}

void tsrt_model_free(tsrt_model *model) {
    if (model == nullptr) return;
    tsrt_model_close(model);
    delete model;
}

void tsrt_model_close(tsrt_model *model) {
    if (model == nullptr) return;
    try {
        std::unique_lock<std::mutex> lock(model->close_lock);
        model->closed.store(true);
        model->idle.wait(lock, [&] { return model->in_flight.load() == 0; });
        model->fast.reset();  // frees the weights and compiled code now
        model->module = torch::jit::Module();
        model->package.reset();  // unloads the package's code, removes its folder
    } catch (...) {
        // Only a failing mutex could get here; the model stays closed.
    }
}

int tsrt_model_format(const tsrt_model *model) { return model ? model->format : -1; }

const char *tsrt_model_device(const tsrt_model *model) {
    return model ? model->device_name.c_str() : nullptr;
}

}  // extern "C"
