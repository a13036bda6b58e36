// The Xen attributes that hand the kernel a host address, one row each. KVM keeps using the address
// after the ioctl, so the shim checks that it lies in a live mapping of this addon and keeps that
// mapping pinned while the attribute is in force (ioctl.cc, PlanPins).
//
// The rows must match the attributes that lib/xen/attributes.ts marks with `hostAddress`: the shim
// reports them with its request table (requests()), and test/structs.test.ts fails when the two
// disagree, so an attribute that carries a host address cannot be added without its pin rule.
#pragma once
#include <cstddef>
#include <cstdint>

#include "requests.h"

namespace kvmxen {

struct AttributePin {
  const char* name;     // the host attribute's name, as in lib/xen/attributes.ts
  Special request;      // kXenHvmAttr (VM fd) or kXenVcpuAttr (vCPU fd)
  uint16_t hostType;    // the attribute whose u64 is a host virtual address (0: disable)
  uint16_t guestType;   // the attribute that sets the same place by guest address: it drops the pin
  const char* key;      // the pin's name in the VM's PinSet (a vCPU's gets ":<fd serial>")
  size_t bytes;         // how much the kernel uses from the address on
};

extern const AttributePin kAttributePins[];
extern const size_t kAttributePinCount;

// The row for an attribute `type` of `request`, by its host or its guest attribute; null if none.
const AttributePin* FindAttributePin(Special request, uint16_t type);

}  // namespace kvmxen
