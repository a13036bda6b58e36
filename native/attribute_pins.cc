#include "attribute_pins.h"

#include "kvm_abi.h"

namespace kvmxen {

const AttributePin kAttributePins[] = {
    {"SHARED_INFO_HVA", Special::kXenHvmAttr, KVM_XEN_ATTR_TYPE_SHARED_INFO_HVA, KVM_XEN_ATTR_TYPE_SHARED_INFO, "shared_info",
     KVMXEN_SHARED_INFO_BYTES},
    {"VCPU_INFO_HVA", Special::kXenVcpuAttr, KVM_XEN_VCPU_ATTR_TYPE_VCPU_INFO_HVA, KVM_XEN_VCPU_ATTR_TYPE_VCPU_INFO, "vcpu_info",
     KVMXEN_VCPU_INFO_BYTES},
};
const size_t kAttributePinCount = sizeof(kAttributePins) / sizeof(kAttributePins[0]);

const AttributePin* FindAttributePin(Special request, uint16_t type) {
  for (const AttributePin& pin : kAttributePins) {
    if (pin.request == request && (pin.hostType == type || pin.guestType == type)) return &pin;
  }
  return nullptr;
}

}  // namespace kvmxen
