// The metadata message (image.capnp) -> the plain model (image_model.h). The
// only code on the tools' side that sees the generated Cap'n Proto types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "image_model.h"

namespace vproc::image {

// Decodes SIZE bytes at WORDS (8-byte aligned; a flat, unpacked message with
// its segment table, exactly as long as the message) into every field of IMG
// except the header. Structure only: the model's consistency is image_check's.
// A list longer than the reader accepts (chunks and blobs: MAX_CHUNKS) is
// refused before anything is allocated for it. Throws ImageError
// "WHO: metadata corrupted (...)".
void decode_metadata(const std::string& who, const void* words, size_t size, uint64_t max_chunks, Image& img);

}  // namespace vproc::image
