// Memory for secrets (PINs, the database key): allocated with sodium_malloc,
// so it is locked out of swap, guarded, and wiped when freed.
//
//   SecureBuffer pin = read_pin(source);
//   login(pin.view());           // never copied into a std::string
//
// Move-only; copying a secret must be explicit (`SecureBuffer::copy_of`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace custos {

class SecureBuffer {
 public:
  SecureBuffer() = default;
  explicit SecureBuffer(std::size_t size);
  ~SecureBuffer();
  SecureBuffer(SecureBuffer&& other) noexcept;
  SecureBuffer& operator=(SecureBuffer&& other) noexcept;
  SecureBuffer(const SecureBuffer&) = delete;
  SecureBuffer& operator=(const SecureBuffer&) = delete;

  static SecureBuffer copy_of(std::span<const std::uint8_t> bytes);

  std::uint8_t* data() { return data_; }
  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::span<const std::uint8_t> bytes() const { return {data_, size_}; }
  std::string_view chars() const { return {reinterpret_cast<const char*>(data_), size_}; }

  // Shrinks the visible size (the wiped tail stays allocated); used after
  // reading a secret of unknown length into a buffer of the maximum size.
  void truncate(std::size_t size);

  // Lower-case hex of the contents, itself in secure memory.
  SecureBuffer to_hex() const;

  // Constant-time comparison.
  bool equals(std::span<const std::uint8_t> other) const;

 private:
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace custos
