// The text side of Windows' `format /fs:ntfs`. The engine (bootmirror/ntfs.h) knows nothing of it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "bootmirror/ntfs.h"

namespace bootmirror::shell {

// Everything `format X: /fs:ntfs` prints after it has been told to go, as Windows Server 2003
// lays it out (see ntfs_format_text.cpp for the sources).
std::string ntfs_format_summary(const ntfs::FormatResult& result, std::uint64_t volume_bytes,
                                std::string_view previous_file_system, bool quick);

}  // namespace bootmirror::shell
