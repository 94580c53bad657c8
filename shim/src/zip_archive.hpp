// Checked reading of zip archives (AOTInductor packages, TorchScript files): see zip_archive.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "internal.hpp"

namespace tsrt {

// A member of a checked archive: its name and where its bytes lie in the archive.
struct ZipMember {
    std::string name;
    uint64_t offset;
    uint64_t size;
};

// Which rules an archive is read with (zip_archive.cpp): an AOTInductor package's, all of them;
// a TorchScript file's, those that keep its content unambiguous and intact.
enum class ArchiveKind { AotiPackage, TorchScript };

// The stored members of the zip archive in `data`, every check of `kind` passed (names, bounds,
// duplicates, CRC-32, stored members only for packages); fails with TSRT_ERR_BAD_MODEL naming
// the member and the problem.
std::vector<ZipMember> read_zip_members(const unsigned char *data, size_t size,
                                        ArchiveKind kind = ArchiveKind::AotiPackage);

// Whether `data` ends with a zip end-of-central-directory record.
bool has_zip_directory(const unsigned char *data, size_t size);

// The member names listed by the central directory, unchecked, as far as it can be read; for
// recognising what an archive is before checking it.
std::vector<std::string> zip_member_names(const unsigned char *data, size_t size);

// The CRC-32 of zip archives (polynomial 0xEDB88320).
uint32_t crc32(const unsigned char *data, size_t size);

}  // namespace tsrt
