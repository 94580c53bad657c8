// Loading shared libraries that register TorchScript operators (torchvision's, or a model's
// own TORCH_LIBRARY operators), with a precise reason when one cannot be loaded.
#include <cxxabi.h>
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <string>
#include <thread>

#include "internal.hpp"

using tsrt::fail;
using tsrt::guarded;
using tsrt::require;

namespace {

#if defined(__x86_64__)
constexpr unsigned kOwnMachine = EM_X86_64;
#elif defined(__aarch64__)
constexpr unsigned kOwnMachine = EM_AARCH64;
#elif defined(__powerpc64__)
constexpr unsigned kOwnMachine = EM_PPC64;
#elif defined(__s390x__)
constexpr unsigned kOwnMachine = EM_S390;
#elif defined(__riscv)
constexpr unsigned kOwnMachine = EM_RISCV;
#else
constexpr unsigned kOwnMachine = EM_NONE;  // unknown here: left to dlopen to judge
#endif

std::string quoted(const char *path) { return std::string("'") + path + "'"; }

void check_library_path(const char *path) {
    struct stat info;
    if (stat(path, &info) != 0) {
        int err = errno;
        if (err == ENOENT || err == ENOTDIR)
            fail(TSRT_ERR_NOT_FOUND, "operator library not found: " + quoted(path));
        fail(TSRT_ERR_IO,
             "cannot access operator library " + quoted(path) + ": " + std::strerror(err));
    }
    if (S_ISDIR(info.st_mode))
        fail(TSRT_ERR_IO, quoted(path) + " is a directory, not a shared library");
    if (!S_ISREG(info.st_mode)) fail(TSRT_ERR_IO, quoted(path) + " is not a regular file");
}

std::string describe_machine(unsigned machine) {
    switch (machine) {
        case EM_X86_64: return "x86-64";
        case EM_386: return "x86 (32-bit)";
        case EM_AARCH64: return "AArch64";
        case EM_ARM: return "ARM (32-bit)";
        case EM_PPC64: return "POWER (64-bit)";
        case EM_S390: return "s390x";
        case EM_RISCV: return "RISC-V";
        default: return "machine type " + std::to_string(machine);
    }
}

// The ELF header tells apart what dlopen reports alike as "invalid ELF header" or "wrong ELF
// class": a file that is no library at all, an object file, one built for another CPU.
void check_elf_header(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        fail(TSRT_ERR_IO,
             "cannot read operator library " + quoted(path) + ": " + std::strerror(err));
    }
    Elf64_Ehdr header;
    std::memset(&header, 0, sizeof header);
    ssize_t got = read(fd, &header, sizeof header);
    close(fd);
    const std::string what = quoted(path);
    if (got < static_cast<ssize_t>(EI_NIDENT) || std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0)
        fail(TSRT_ERR_BAD_LIBRARY, what + " is not a shared library (it has no ELF header)");
    // e_type and e_machine sit at the same offsets in 32- and 64-bit headers; the byte order
    // of this check is the host's, so a library of the other byte order reads as another
    // machine, which it is.
    if (kOwnMachine != EM_NONE && header.e_machine != kOwnMachine)
        fail(TSRT_ERR_BAD_LIBRARY, what + " is built for " + describe_machine(header.e_machine) +
                                       ", but this process runs on " +
                                       describe_machine(kOwnMachine) +
                                       ": build the library for this machine");
    const unsigned char own_class = sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32;
    if (header.e_ident[EI_CLASS] != own_class)
        fail(TSRT_ERR_BAD_LIBRARY, what + " is a " +
                                       (header.e_ident[EI_CLASS] == ELFCLASS32 ? "32" : "64") +
                                       "-bit library, but this process is " +
                                       (own_class == ELFCLASS32 ? "32" : "64") + "-bit");
    if (header.e_type == ET_REL)
        fail(TSRT_ERR_BAD_LIBRARY,
             what + " is an object file, not a shared library: link it with -shared");
    if (header.e_type == ET_EXEC)
        fail(TSRT_ERR_BAD_LIBRARY, what + " is an executable, not a shared library");
}

// "_ZN3c105ErrorC2Ev (c10::Error::Error())": the symbol dlerror names, made readable.
std::string with_demangled_symbol(const std::string &report) {
    static const std::string marker = "undefined symbol: ";
    size_t at = report.find(marker);
    if (at == std::string::npos) return report;
    size_t start = at + marker.size();
    size_t end = report.find_first_of(" ,\n", start);
    std::string symbol = report.substr(start, end == std::string::npos ? end : end - start);
    int status = 0;
    char *readable = abi::__cxa_demangle(symbol.c_str(), nullptr, nullptr, &status);
    if (status != 0 || readable == nullptr) return report;
    std::string result = report;
    result.insert(start + symbol.size(), std::string(" (") + readable + ")");
    std::free(readable);
    return result;
}

[[noreturn]] void fail_dlopen(const char *path, const char *dl_report) {
    const std::string report = with_demangled_symbol(dl_report ? dl_report : "unknown error");
    const std::string what = quoted(path);
    if (report.find("undefined symbol") != std::string::npos)
        fail(TSRT_ERR_BAD_LIBRARY,
             what +
                 " has unresolved symbols: it was built against another version of "
                 "libtorch, or needs a library that defines them loaded first (" +
                 report + ")");
    if (report.find("cannot open shared object file") != std::string::npos)
        fail(TSRT_ERR_BAD_LIBRARY,
             what +
                 " needs a library the dynamic loader cannot find; give the library a run "
                 "path to it, or load that library first (" +
                 report + ")");
    fail(TSRT_ERR_BAD_LIBRARY, what + " cannot be loaded as a shared library (" + report + ")");
}

// A C++ exception thrown by a library's static initialisation (a TORCH_LIBRARY block that
// registers an operator twice, say) either cannot travel through the dynamic loader's C frames
// (the runtime calls std::terminate) or gets through them while skipping their clean-up: the
// loader's lock stays held and the next dlopen in another thread hangs for ever. Neither can be
// recovered from, so the process ends, always, and says which library did it and why: dlopen
// is called from a noexcept function, and this handler, set only while it runs, explains.
std::mutex loading_lock;
const char *loading_path = nullptr;
std::thread::id loading_thread;
std::terminate_handler previous_handler = nullptr;

[[noreturn]] void explain_failed_initialisation() {
    if (std::this_thread::get_id() != loading_thread && previous_handler) previous_handler();
    std::string reason = "an unknown exception";
    if (std::exception_ptr current = std::current_exception()) {
        try {
            std::rethrow_exception(current);
        } catch (const c10::Error &e) {
            reason = e.what_without_backtrace();
        } catch (const std::exception &e) {
            reason = e.what();
        } catch (...) {
        }
    }
    std::fprintf(stderr,
                 "libtsrt: the operator library '%s' threw a C++ exception while it was being "
                 "loaded (in its static initialisation); the dynamic loader cannot recover from "
                 "that, so the process must stop. A common cause is a second library "
                 "registering operators that are already registered (two builds of "
                 "torchvision's operators in one process). The exception: %s\n",
                 loading_path ? loading_path : "?", reason.c_str());
    std::fflush(stderr);
    std::abort();
}

// glibc declares dlopen as throwing nothing, so a call to it gets no exception handling at
// all and an exception would pass this noexcept frame unnoticed; through a pointer of a type
// that may throw, the compiler keeps the noexcept guard.
using Opener = void *(*)(const char *, int);
Opener volatile opener = dlopen;

void *dlopen_or_terminate(const char *path) noexcept {
    return opener(path, RTLD_NOW | RTLD_GLOBAL);
}

void *open_library(const char *path) {
    std::lock_guard<std::mutex> lock(loading_lock);
    loading_path = path;
    loading_thread = std::this_thread::get_id();
    previous_handler = std::set_terminate(explain_failed_initialisation);
    dlerror();  // clear any earlier report
    void *handle = dlopen_or_terminate(path);
    std::set_terminate(previous_handler);
    loading_path = nullptr;
    loading_thread = std::thread::id();
    if (handle == nullptr) fail_dlopen(path, dlerror());
    return handle;
}

}  // namespace

extern "C" {

int tsrt_load_library(const char *path) {
    return guarded(TSRT_ERR_BAD_LIBRARY, "cannot load the operator library", [&] {
        require(path != nullptr, "path is NULL");
        require(path[0] != '\0', "path is empty");
        check_library_path(path);
        check_elf_header(path);
        // A name without a slash would make dlopen search the system's library folders
        // instead of opening the file the caller named.
        std::string file = std::strchr(path, '/') ? std::string(path) : "./" + std::string(path);
        // Never closed: operators it registered stay in use by the models that call them.
        open_library(file.c_str());
    });
}

}  // extern "C"
