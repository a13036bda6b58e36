// The ioctl requests the shim performs: number, the fd kinds it is valid on, and the argument's shape.
// One checked path (ioctl.cc) uses this table for every request; TypeScript reads it by name.
#pragma once
#include <cstddef>
#include <cstdint>

namespace kvmxen {

enum class ArgShape {
  kNone,       // no argument (_IO with 0)
  kValue,      // an integer passed by value (_IO with an argument)
  kStruct,     // a buffer of exactly _IOC_SIZE(number) bytes (or more)
  kFlexArray,  // a header with a u32 count at offset 0, then count entries
};

// What the shim must check or remember beyond the buffer size.
enum class Special {
  kNone,
  kMemoryRegion,  // userspace_addr must lie in a live addon mapping; pinned while the slot exists
  kXenHvmAttr,    // a VM attribute with a host address (attribute_pins.h): checked, pinned while in use
  kXenVcpuAttr,   // likewise for a vCPU attribute
  kDirtyLog,      // kvm_dirty_log then the bitmap in the same buffer, sized from the slot (ioctl.cc)
};

struct RequestSpec {
  const char* name;
  unsigned long number;
  unsigned kinds;         // FdKind bits
  ArgShape shape;
  size_t entrySize;       // kFlexArray: bytes per entry (header size is _IOC_SIZE(number))
  unsigned createsKind;   // non-zero: the result is a new fd of this kind
  Special special;
};

extern const RequestSpec kRequests[];
extern const size_t kRequestCount;

// _IOC_SIZE of the request: the struct size, or the flexible array's header size.
size_t RequestStructSize(const RequestSpec& spec);

}  // namespace kvmxen
