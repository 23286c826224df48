#include "appliance/operations/status_epoch.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "common/error.h"

namespace custos::operations {
namespace {

// Across processes an atomic must not need a lock that lives in one of them.
static_assert(std::atomic_ref<std::uint64_t>::is_always_lock_free);

constexpr std::size_t kPageBytes = 4096;
// What the front end cannot undo: the size, and no writable way in but custosd's mapping.
constexpr int kSeals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL;

Error system_error(const std::string& what) { return Error("the status epoch page: " + what + ": " + std::strerror(errno)); }

FileDescriptor sealed_page() {
  FileDescriptor page(::memfd_create("custos-status-epoch", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!page) throw system_error("memfd_create");
  if (::ftruncate(page.get(), kPageBytes) != 0) throw system_error("ftruncate");
  return page;
}

}  // namespace

StatusEpochPage::StatusEpochPage(FileDescriptor descriptor, bool writable) : descriptor_(std::move(descriptor)) {
  void* mapped = ::mmap(nullptr, kPageBytes, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED,
                        descriptor_.get(), 0);
  if (mapped == MAP_FAILED) throw system_error("mmap");
  counter_ = static_cast<std::uint64_t*>(mapped);
}

StatusEpochPage::StatusEpochPage(StatusEpochPage&& other) noexcept
    : counter_(std::exchange(other.counter_, nullptr)), descriptor_(std::move(other.descriptor_)) {}

StatusEpochPage::~StatusEpochPage() {
  if (counter_ != nullptr) ::munmap(counter_, kPageBytes);
}

std::uint64_t StatusEpochPage::current() const noexcept {
  return std::atomic_ref<std::uint64_t>(*counter_).load(std::memory_order_acquire);
}

StatusEpochWriter::StatusEpochWriter() : StatusEpochPage(sealed_page(), true) {
  // Sealed after custosd's own writable mapping, which the seals leave usable.
  if (::fcntl(descriptor(), F_ADD_SEALS, kSeals) != 0) throw system_error("sealing");
}

void StatusEpochWriter::advance() noexcept {
  std::atomic_ref<std::uint64_t>(*counter_).fetch_add(1, std::memory_order_release);
}

StatusEpochReader::StatusEpochReader(FileDescriptor descriptor) : StatusEpochPage(std::move(descriptor), false) {
  int seals = ::fcntl(this->descriptor(), F_GET_SEALS);
  if (seals < 0) throw system_error("reading its seals");
  struct stat status {};
  if ((seals & kSeals) != kSeals || ::fstat(this->descriptor(), &status) != 0 ||
      status.st_size != static_cast<off_t>(kPageBytes)) {
    throw Error("the status epoch descriptor is not custosd's sealed page");
  }
}

}  // namespace custos::operations
