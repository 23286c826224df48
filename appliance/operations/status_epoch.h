// The status epoch: one counter on a memory page that custosd shares with
// its HTTP front end. custosd raises it each time it makes its status lane
// again (after a revocation or its undoing, a new CRL or OCSP signer, a
// reload), once the change is committed and before the call that made it is
// answered: whatever the lane said before may no longer hold. The front end
// keeps the lane's reusable OCSP answers under the epoch it read before it
// asked, and drops them all when the epoch moves, so no kept answer
// outlives a change custosd has acknowledged.
//
// The page is a sealed memfd: its size cannot change, so the front end
// cannot make custosd's writes fault, and no shared writable mapping (nor
// write(2)) can be made of it after custosd's own, so the front end can
// only read it.
//
//   operations::StatusEpochWriter epoch;                  // custosd
//   spawn(… epoch.descriptor() …);                        // inherited by custos-http
//   epoch.advance();                                      // after the lane is made again
//   operations::StatusEpochReader seen(FileDescriptor(fd));  // custos-http, before its sandbox
//   std::uint64_t now = seen.current();
#pragma once

#include <cstdint>

#include "common/files.h"

namespace custos::operations {

// One shared mapping of the page, unmapped when destroyed. Not movable:
// readers of the counter hold a reference to it.
class StatusEpochPage {
 public:
  StatusEpochPage(const StatusEpochPage&) = delete;
  StatusEpochPage& operator=(const StatusEpochPage&) = delete;
  ~StatusEpochPage();

  std::uint64_t current() const noexcept;

 protected:
  StatusEpochPage(int descriptor, bool writable);
  std::uint64_t* counter_ = nullptr;
};

// custosd's side: makes the page; the only writer. Throws custos::Error
// when the kernel cannot make a sealed memfd (Linux before 5.1).
class StatusEpochWriter : public StatusEpochPage {
 public:
  StatusEpochWriter();
  // For the front end to inherit.
  int descriptor() const { return descriptor_.get(); }
  void advance() noexcept;

 private:
  explicit StatusEpochWriter(FileDescriptor page);
  FileDescriptor descriptor_;
};

// The front end's side: the inherited descriptor, checked, mapped
// read-only and closed. Throws custos::Error when it is not a sealed epoch page.
class StatusEpochReader : public StatusEpochPage {
 public:
  explicit StatusEpochReader(FileDescriptor descriptor);
};

}  // namespace custos::operations
