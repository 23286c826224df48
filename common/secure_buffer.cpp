#include "common/secure_buffer.h"

#include <sodium.h>

#include <algorithm>
#include <new>
#include <stdexcept>
#include <utility>

#include "common/error.h"

namespace custos {
namespace {

void ensure_sodium() {
  static const bool ready = sodium_init() >= 0;
  if (!ready) throw Error("libsodium could not be initialised");
}

}  // namespace

SecureBuffer::SecureBuffer(std::size_t size) : size_(size) {
  ensure_sodium();
  // sodium_malloc(0) is valid but returns a guarded page; keep it uniform.
  data_ = static_cast<std::uint8_t*>(sodium_malloc(size == 0 ? 1 : size));
  if (data_ == nullptr) throw std::bad_alloc();
  sodium_memzero(data_, size == 0 ? 1 : size);
}

SecureBuffer::~SecureBuffer() {
  if (data_ != nullptr) sodium_free(data_);  // wipes before freeing
}

SecureBuffer::SecureBuffer(SecureBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

SecureBuffer& SecureBuffer::operator=(SecureBuffer&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) sodium_free(data_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

SecureBuffer SecureBuffer::copy_of(std::span<const std::uint8_t> bytes) {
  SecureBuffer buffer(bytes.size());
  if (!bytes.empty()) std::copy(bytes.begin(), bytes.end(), buffer.data_);
  return buffer;
}

void SecureBuffer::truncate(std::size_t size) {
  if (size > size_) throw std::logic_error("SecureBuffer::truncate past the end");
  sodium_memzero(data_ + size, size_ - size);
  size_ = size;
}

SecureBuffer SecureBuffer::to_hex() const {
  SecureBuffer hex(size_ * 2 + 1);
  sodium_bin2hex(reinterpret_cast<char*>(hex.data_), hex.size_, data_, size_);
  hex.truncate(size_ * 2);  // drop the terminating NUL
  return hex;
}

bool SecureBuffer::equals(std::span<const std::uint8_t> other) const {
  if (other.size() != size_) return false;
  return size_ == 0 || sodium_memcmp(data_, other.data(), size_) == 0;
}

}  // namespace custos
