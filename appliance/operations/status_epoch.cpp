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
// Linux 6.3's flag for a memfd that can never be executable; older headers lack it.
#ifndef MFD_NOEXEC_SEAL
constexpr unsigned kNoExecSeal = 0x0008U;
#else
constexpr unsigned kNoExecSeal = MFD_NOEXEC_SEAL;
#endif

Error system_error(const std::string& what) { return Error("the status epoch page: " + what + ": " + std::strerror(errno)); }

FileDescriptor sealed_page() {
  constexpr char kName[] = "custos-status-epoch";
  // Never executable where the kernel can say so (with vm.memfd_noexec = 2
  // it refuses any other memfd); before 6.3 it does not know the flag.
  FileDescriptor page(::memfd_create(kName, MFD_CLOEXEC | MFD_ALLOW_SEALING | kNoExecSeal));
  if (!page && errno == EINVAL) page = FileDescriptor(::memfd_create(kName, MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!page) throw system_error("memfd_create");
  if (::ftruncate(page.get(), kPageBytes) != 0) throw system_error("ftruncate");
  return page;
}

// The inherited descriptor, once it is known to be custosd's sealed page.
int checked_page(const FileDescriptor& descriptor) {
  int seals = ::fcntl(descriptor.get(), F_GET_SEALS);
  struct stat status {};
  if (seals < 0 || (seals & kSeals) != kSeals || ::fstat(descriptor.get(), &status) != 0 ||
      status.st_size != static_cast<off_t>(kPageBytes)) {
    throw Error("the status epoch descriptor is not custosd's sealed page");
  }
  return descriptor.get();
}

}  // namespace

StatusEpochPage::StatusEpochPage(int descriptor, bool writable) {
  void* mapped =
      ::mmap(nullptr, kPageBytes, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, descriptor, 0);
  if (mapped == MAP_FAILED) throw system_error("mmap");
  counter_ = static_cast<std::uint64_t*>(mapped);
}

StatusEpochPage::~StatusEpochPage() { ::munmap(counter_, kPageBytes); }

std::uint64_t StatusEpochPage::current() const noexcept {
  return std::atomic_ref<std::uint64_t>(*counter_).load(std::memory_order_acquire);
}

StatusEpochWriter::StatusEpochWriter() : StatusEpochWriter(sealed_page()) {}

StatusEpochWriter::StatusEpochWriter(FileDescriptor page)
    : StatusEpochPage(page.get(), true), descriptor_(std::move(page)) {
  // Sealed after custosd's own writable mapping, which the seals leave usable.
  if (::fcntl(descriptor_.get(), F_ADD_SEALS, kSeals) != 0) throw system_error("sealing");
}

void StatusEpochWriter::advance() noexcept {
  std::atomic_ref<std::uint64_t>(*counter_).fetch_add(1, std::memory_order_release);
}

// The mapping outlives the descriptor, which the front end no longer needs.
StatusEpochReader::StatusEpochReader(FileDescriptor descriptor) : StatusEpochPage(checked_page(descriptor), false) {}

}  // namespace custos::operations
