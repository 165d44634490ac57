#include "hub/sha256.h"

#include <gtest/gtest.h>

namespace kiln::hub {
namespace {

std::string digest(const std::string& data) {
  Sha256 hasher;
  hasher.update(data.data(), data.size());
  return hasher.hex_digest();
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(digest(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(digest(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, ChunkingDoesNotMatter) {
  std::string data;
  for (int i = 0; i < 5000; ++i) data += static_cast<char>(i * 31 % 251);
  Sha256 pieces;
  size_t at = 0;
  for (size_t step = 1; at < data.size(); step = step * 3 % 97 + 1) {
    const size_t take = std::min(step, data.size() - at);
    pieces.update(data.data() + at, take);
    at += take;
  }
  EXPECT_EQ(pieces.hex_digest(), digest(data));
}

}  // namespace
}  // namespace kiln::hub
