// SHA-256, incremental: the ETag of an LFS file on the Hub is the sha256 of its contents, and a
// download is hashed as it streams so a multi-GB weight file is not read twice.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace kiln::hub {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  // 64 lowercase hex characters. Ends the computation.
  std::string hex_digest();

 private:
  void compress(const uint8_t* block);

  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

}  // namespace kiln::hub
