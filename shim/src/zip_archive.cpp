// Reading the zip archive of an AOTInductor package ourselves, before any of it reaches
// libtorch's package loader: the loader extracts every member it finds and loads the shared
// library among them, so a hostile archive must be refused here, with a message naming the
// member and the problem. Only what PyTorch writes is accepted: stored (uncompressed) members,
// no encryption, names without absolute paths, "..", backslashes or duplicates, every byte
// inside the archive, and each member's CRC-32 matching its data.
//
// TorchScript files get the checks that keep their content unambiguous and intact, since
// libtorch's reader checks no CRC: a weight damaged on disk would otherwise load and compute.
// Their names are not checked (nothing is extracted), their source files may be deflated (their
// CRC is left to the decompressor), and a CRC of 0 means none was recorded.
#include <array>
#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "zip_archive.hpp"

using tsrt::fail;

namespace {

constexpr uint32_t kEndOfDirectory = 0x06054b50;
constexpr uint32_t kZip64EndOfDirectory = 0x06064b50;
constexpr uint32_t kZip64Locator = 0x07064b50;
constexpr uint32_t kDirectoryEntry = 0x02014b50;
constexpr uint32_t kLocalHeader = 0x04034b50;
constexpr size_t kMaxMembers = 100000;
constexpr size_t kMaxNameLength = 4096;

uint16_t read16(const unsigned char *p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

uint32_t read32(const unsigned char *p) {
    return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
           (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

uint64_t read64(const unsigned char *p) {
    return static_cast<uint64_t>(read32(p)) | (static_cast<uint64_t>(read32(p + 4)) << 32);
}

using tsrt::ArchiveKind;

[[noreturn]] void corrupt(ArchiveKind kind, const std::string &problem) {
    fail(TSRT_ERR_BAD_MODEL,
         std::string(kind == ArchiveKind::AotiPackage ? "the .pt2 package"
                                                      : "the TorchScript file's zip archive") +
             " is not well formed: " + problem);
}

// Whether [offset, offset + length) lies inside an archive of `size` bytes.
bool inside(uint64_t offset, uint64_t length, uint64_t size) {
    return offset <= size && length <= size - offset;
}

// Tables for CRC-32 eight bytes at a time ("slicing by 8"): table k gives the CRC of a byte
// followed by k zero bytes. About 1 GB/s, so checking a 45 MB model adds tens of ms.
using CrcTables = std::array<std::array<uint32_t, 256>, 8>;

CrcTables crc_tables() {
    CrcTables tables{};
    for (uint32_t n = 0; n < 256; ++n) {
        uint32_t c = n;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        tables[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; ++n)
        for (size_t k = 1; k < 8; ++k)
            tables[k][n] = (tables[k - 1][n] >> 8) ^ tables[0][tables[k - 1][n] & 0xFF];
    return tables;
}

// Where the end-of-central-directory record starts: it is the last record, followed only by a
// comment of at most 65535 bytes. `size` when there is none.
size_t find_end_record(const unsigned char *data, size_t size) {
    if (size < 22) return size;
    size_t lowest = size > 22 + 65535 ? size - 22 - 65535 : 0;
    for (size_t at = size - 22 + 1; at-- > lowest;)
        if (read32(data + at) == kEndOfDirectory && at + 22 + read16(data + at + 20) == size)
            return at;
    return size;
}

struct Directory {
    uint64_t entries = 0;
    uint64_t offset = 0;
    uint64_t size = 0;
};

Directory read_directory_location(const unsigned char *data, size_t size, size_t end,
                                  ArchiveKind kind) {
    const unsigned char *record = data + end;
    Directory directory{read16(record + 10), read32(record + 16), read32(record + 12)};
    if (read16(record + 4) != 0 || read16(record + 6) != 0)
        corrupt(kind, "it spans several disks, which PyTorch never writes");
    bool zip64 = directory.entries == 0xFFFF || directory.offset == 0xFFFFFFFF ||
                 directory.size == 0xFFFFFFFF;
    if (!zip64) return directory;
    if (end < 20 || read32(data + end - 20) != kZip64Locator)
        corrupt(kind, "its end record asks for a ZIP64 record that is missing");
    uint64_t at = read64(data + end - 20 + 8);
    if (!inside(at, 56, size) || read32(data + at) != kZip64EndOfDirectory)
        corrupt(kind, "its ZIP64 end record lies outside the archive or is damaged");
    return Directory{read64(data + at + 32), read64(data + at + 48), read64(data + at + 40)};
}

// Checks a member's name: a relative path of plain components, as PyTorch writes them.
void check_name(const std::string &name, ArchiveKind kind) {
    if (name.empty()) corrupt(kind, "a member has an empty name");
    if (name.size() > kMaxNameLength)
        corrupt(kind,
                "a member's name is longer than " + std::to_string(kMaxNameLength) + " bytes");
    if (name.find('\0') != std::string::npos)
        corrupt(kind, "the member name '" + name.substr(0, name.find('\0')) + "' holds a NUL byte");
    if (name.find('\\') != std::string::npos)
        corrupt(kind, "the member name '" + name + "' holds a backslash");
    if (name[0] == '/') corrupt(kind, "the member '" + name + "' has an absolute path");
    size_t start = 0;
    while (start <= name.size()) {
        size_t stop = name.find('/', start);
        if (stop == std::string::npos) stop = name.size();
        std::string part = name.substr(start, stop - start);
        if (part == "..")
            corrupt(kind, "the member '" + name + "' has a path leading out of the package ('..')");
        if (part == "." || (part.empty() && stop != name.size()))
            corrupt(kind, "the member name '" + name + "' has an empty or '.' component");
        start = stop + 1;
    }
}

// The ZIP64 extra field's 64-bit values for the 32-bit fields set to 0xFFFFFFFF, in order.
void apply_zip64(const unsigned char *extra, size_t length, uint64_t &size, uint64_t &compressed,
                 uint64_t &offset, const std::string &name, ArchiveKind kind) {
    bool need_size = size == 0xFFFFFFFF, need_compressed = compressed == 0xFFFFFFFF,
         need_offset = offset == 0xFFFFFFFF;
    if (!need_size && !need_compressed && !need_offset) return;
    size_t at = 0;
    while (at + 4 <= length) {
        uint16_t id = read16(extra + at), field = read16(extra + at + 2);
        if (at + 4 + field > length) break;
        if (id == 0x0001) {
            const unsigned char *p = extra + at + 4, *stop = p + field;
            auto take = [&](uint64_t &value) {
                if (p + 8 > stop)
                    corrupt(kind, "the member '" + name + "' has a short ZIP64 field");
                value = read64(p);
                p += 8;
            };
            if (need_size) take(size);
            if (need_compressed) take(compressed);
            if (need_offset) take(offset);
            return;
        }
        at += 4 + field;
    }
    corrupt(kind, "the member '" + name + "' lacks the ZIP64 field its sizes ask for");
}

}  // namespace

namespace tsrt {

uint32_t crc32(const unsigned char *data, size_t size) {
    static const CrcTables t = crc_tables();
    uint32_t c = 0xFFFFFFFFu;
    size_t i = 0;
    for (; i + 8 <= size; i += 8) {
        uint32_t low = c ^ read32(data + i), high = read32(data + i + 4);
        c = t[7][low & 0xFF] ^ t[6][(low >> 8) & 0xFF] ^ t[5][(low >> 16) & 0xFF] ^
            t[4][low >> 24] ^ t[3][high & 0xFF] ^ t[2][(high >> 8) & 0xFF] ^
            t[1][(high >> 16) & 0xFF] ^ t[0][high >> 24];
    }
    for (; i < size; ++i) c = t[0][(c ^ data[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

bool has_zip_directory(const unsigned char *data, size_t size) {
    return find_end_record(data, size) != size;
}

std::vector<std::string> zip_member_names(const unsigned char *data, size_t size) {
    std::vector<std::string> names;
    size_t end = find_end_record(data, size);
    if (end == size) return names;
    try {
        Directory directory = read_directory_location(data, size, end, ArchiveKind::AotiPackage);
        uint64_t at = directory.offset;
        for (uint64_t i = 0; i < directory.entries && i < kMaxMembers; ++i) {
            if (!inside(at, 46, size) || read32(data + at) != kDirectoryEntry) break;
            uint16_t name_length = read16(data + at + 28);
            uint64_t next = at + 46 + name_length + read16(data + at + 30) + read16(data + at + 32);
            if (!inside(at + 46, name_length, size)) break;
            names.emplace_back(reinterpret_cast<const char *>(data + at + 46), name_length);
            at = next;
        }
    } catch (const Error &) {
        // A damaged directory is reported by read_zip_members; here it only lists fewer names.
    }
    return names;
}

std::vector<ZipMember> read_zip_members(const unsigned char *data, size_t size, ArchiveKind kind) {
    size_t end = find_end_record(data, size);
    if (end == size)
        corrupt(kind, "no zip end record was found, so the file is truncated or not a zip archive");
    Directory directory = read_directory_location(data, size, end, kind);
    if (directory.entries > kMaxMembers)
        corrupt(kind, "it claims " + std::to_string(directory.entries) + " members, more than " +
                          std::to_string(kMaxMembers));
    if (!inside(directory.offset, directory.size, size))
        corrupt(kind, "its central directory lies outside the archive (truncated?)");
    std::vector<ZipMember> members;
    std::set<std::string> seen;
    uint64_t at = directory.offset, total = 0;
    for (uint64_t i = 0; i < directory.entries; ++i) {
        if (!inside(at, 46, size) || read32(data + at) != kDirectoryEntry)
            corrupt(kind, "central directory entry " + std::to_string(i) + " is damaged");
        const unsigned char *entry = data + at;
        uint16_t flags = read16(entry + 8), method = read16(entry + 10);
        uint32_t crc = read32(entry + 16);
        uint64_t compressed = read32(entry + 20), length = read32(entry + 24);
        uint16_t name_length = read16(entry + 28), extra_length = read16(entry + 30),
                 comment_length = read16(entry + 32);
        uint64_t local = read32(entry + 42);
        if (!inside(at + 46, uint64_t(name_length) + extra_length + comment_length, size))
            corrupt(kind,
                    "central directory entry " + std::to_string(i) + " runs past the archive");
        std::string name(reinterpret_cast<const char *>(entry + 46), name_length);
        bool package = kind == ArchiveKind::AotiPackage;
        if (package) check_name(name, kind);
        apply_zip64(entry + 46 + name_length, extra_length, length, compressed, local, name, kind);
        if (flags & 0x0001) corrupt(kind, "the member '" + name + "' is encrypted");
        bool stored = method == 0 && compressed == length;
        if (!stored && (package || method != 8))
            corrupt(kind, "the member '" + name + "' is compressed (method " +
                              std::to_string(method) +
                              "); PyTorch stores package members uncompressed");
        if (!seen.insert(name).second) corrupt(kind, "the member '" + name + "' appears twice");
        if (!inside(local, 30, size) || read32(data + local) != kLocalHeader)
            corrupt(kind, "the local header of member '" + name + "' is missing or damaged");
        uint16_t local_name = read16(data + local + 26), local_extra = read16(data + local + 28);
        if (local_name != name_length || !inside(local + 30, local_name, size) ||
            std::memcmp(data + local + 30, name.data(), name_length) != 0)
            corrupt(kind, "the local header of member '" + name + "' names another file");
        uint64_t offset = local + 30 + local_name + local_extra;
        if (!inside(offset, compressed, size))
            corrupt(kind, "the member '" + name + "' claims " + std::to_string(compressed) +
                              " bytes, which run past the end of the archive (" +
                              std::to_string(size) + " bytes): truncated, or an oversized member");
        total += compressed;
        if (total > size)
            corrupt(kind,
                    "its members claim more bytes in all than the archive holds: overlapping "
                    "members");
        bool recorded = package || crc != 0;
        if (stored && recorded && crc32(data + offset, length) != crc)
            corrupt(kind,
                    "the member '" + name + "' fails its CRC-32 check: its data is corrupted");
        if (!name.empty() && name.back() != '/' && stored)
            members.push_back({name, offset, length});
        at += 46 + uint64_t(name_length) + extra_length + comment_length;
    }
    return members;
}

}  // namespace tsrt
