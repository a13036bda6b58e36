#include "ioctl.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "arguments.h"
#include "attribute_pins.h"
#include "kvm_abi.h"
#include "mapping.h"

namespace kvmxen {
namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;
constexpr double kMaxMappingBytes = 4294967296.0;
// A bound on the EINTR retries of one call (PerformIoctl): far beyond any seen, short of hanging forever.
constexpr int kMaxEintrRetries = 1000;

template <typename T>
T ReadField(const uint8_t* data, size_t offset) {
  T value;
  std::memcpy(&value, data + offset, sizeof(T));
  return value;
}

// What to do with a pin once the kernel has accepted (or refused) the request.
struct PinPlan {
  std::string key;                   // empty: nothing to record
  std::unique_ptr<MappingPin> pin;   // null with a key: erase the key on success
};

// Checks the host addresses inside the argument. Returns a refusal message, or "" with *plan filled.
std::string PlanPins(FdState& state, const RequestSpec& spec, const IoctlArgument& argument, PinPlan* plan) {
  const uint8_t* data = argument.data;
  switch (spec.special) {
    case Special::kNone:
    case Special::kDirtyLog:  // PlanDirtyLog
      return "";
    case Special::kMemoryRegion: {
      uint32_t slot = ReadField<uint32_t>(data, KVMXEN_REGION_SLOT_OFFSET);
      uint64_t size = ReadField<uint64_t>(data, KVMXEN_REGION_SIZE_OFFSET);
      uint64_t address = ReadField<uint64_t>(data, KVMXEN_REGION_UADDR_OFFSET);
      plan->key = "slot:" + std::to_string(slot);
      if (size == 0) return "";  // deleting the slot
      plan->pin = PinLiveRange(address, size);
      if (!plan->pin) return "KVM_SET_USER_MEMORY_REGION: userspace_addr..+memory_size is not inside a live mapping made by this addon";
      return "";
    }
    case Special::kXenHvmAttr:
    case Special::kXenVcpuAttr: {
      const uint16_t type = ReadField<uint16_t>(data, KVMXEN_ATTR_TYPE_OFFSET);
      const AttributePin* rule = FindAttributePin(spec.special, type);
      if (rule == nullptr) return "";
      plan->key = rule->key;
      // A vCPU's place is its own: one pin per vCPU fd.
      if (spec.special == Special::kXenVcpuAttr) plan->key += ":" + std::to_string(state.serial());
      const uint64_t hva = ReadField<uint64_t>(data, KVMXEN_ATTR_U_OFFSET);
      // By guest address (the memslot is pinned already), or disabled: the old pin goes.
      if (type == rule->guestType || hva == 0) return "";
      plan->pin = PinLiveRange(hva, rule->bytes);
      if (!plan->pin) {
        return std::string(spec.name) + " " + rule->name + ": the " + std::to_string(rule->bytes) +
               " bytes at the address are not inside a live mapping made by this addon";
      }
      return "";
    }
  }
  return "";
}

// KVM_GET_DIRTY_LOG: JavaScript passes the struct followed by room for the bitmap, never a pointer.
// The bitmap's length comes from the slot's size as KVM accepted it (one bit per 4 KiB page, rounded
// up to whole u64s as KVM writes them); the pointer handed to the kernel is the shim's own, into that
// room. Returns a refusal message, or "" with *log filled.
std::string PlanDirtyLog(FdState& state, const IoctlArgument& argument, struct kvm_dirty_log* log, const char** code) {
  const uint32_t slot = ReadField<uint32_t>(argument.data, KVMXEN_DIRTY_LOG_SLOT_OFFSET);
  std::shared_ptr<PinSet> pins = state.pins();
  const uint64_t slotBytes = pins ? pins->SlotBytes(slot) : 0;
  if (slotBytes == 0) {
    *code = "ERR_KVM_NO_SLOT";
    return "KVM_GET_DIRTY_LOG: no memory slot " + std::to_string(slot) + " in this VM";
  }
  const uint64_t pages = (slotBytes + 4095) / 4096;
  const uint64_t bitmapBytes = (pages + 63) / 64 * 8;
  const uint64_t need = KVMXEN_DIRTY_LOG_BITMAP_OFFSET + bitmapBytes;
  if (argument.length < need) {
    *code = "ERR_BUFFER_TOO_SMALL";
    return "KVM_GET_DIRTY_LOG for slot " + std::to_string(slot) + " needs a buffer of " + std::to_string(need) +
           " bytes (the struct, then the bitmap), got " + std::to_string(argument.length);
  }
  std::memset(log, 0, sizeof(*log));
  log->slot = slot;
  log->dirty_bitmap = argument.data + KVMXEN_DIRTY_LOG_BITMAP_OFFSET;
  return "";
}

// KVM_GET_VCPU_MMAP_SIZE asked of the system fd that creates a VM; 0 if it fails (no vCPU can then be
// mapped).
size_t VcpuMmapBytes(FdState& system) {
  FdUse use(system);
  if (!use.ok()) return 0;
  const int size = ioctl(use.fd(), KVM_GET_VCPU_MMAP_SIZE, 0);
  return size > 0 ? static_cast<size_t>(size) : 0;
}

}  // namespace

const RequestSpec* RequestFromArg(const Napi::CallbackInfo& info, size_t index) {
  uint64_t request = 0;
  if (!ArgInteger(info, index, "request", 0, static_cast<double>(kRequestCount - 1), &request)) return nullptr;
  return &kRequests[request];
}

bool ReadIoctlArgument(const Napi::CallbackInfo& info, size_t index, const RequestSpec& spec, IoctlArgument* out) {
  Napi::Env env = info.Env();
  switch (spec.shape) {
    case ArgShape::kNone:
      return true;
    case ArgShape::kValue:
      return ArgInteger(info, index, "argument", 0, kMaxSafeInteger, &out->value);
    case ArgShape::kStruct:
    case ArgShape::kFlexArray: {
      if (!ArgBytes(info, index, "argument", &out->data, &out->length)) return false;
      const size_t need = RequestStructSize(spec);
      if (out->length < need) {
        ThrowRangeError(env, "ERR_BUFFER_TOO_SMALL",
                        std::string(spec.name) + " needs a buffer of at least " + std::to_string(need) +
                            " bytes, got " + std::to_string(out->length));
        return false;
      }
      if (spec.shape == ArgShape::kFlexArray) {
        const uint64_t count = ReadField<uint32_t>(out->data, 0);
        const uint64_t total = need + count * spec.entrySize;
        if (total > out->length) {
          ThrowRangeError(env, "ERR_BUFFER_TOO_SMALL",
                          std::string(spec.name) + " with " + std::to_string(count) + " entries needs " +
                              std::to_string(total) + " bytes, got " + std::to_string(out->length));
          return false;
        }
      }
      return true;
    }
  }
  return false;
}

IoctlResult PerformIoctl(FdState& state, const RequestSpec& spec, const IoctlArgument& argument) {
  IoctlResult outcome;
  FdUse use(state);
  if (!use.ok()) {
    outcome.result = -EBADF;
    return outcome;
  }
  PinPlan plan;
  struct kvm_dirty_log dirtyLog;
  outcome.refusal = spec.special == Special::kDirtyLog ? PlanDirtyLog(state, argument, &dirtyLog, &outcome.refusalCode)
                                                       : PlanPins(state, spec, argument, &plan);
  if (!outcome.refusal.empty()) {
    outcome.result = -EFAULT;
    return outcome;
  }
  // A signal that arrives during the call (a profiler's SIGPROF, libuv's SIGCHLD for a child process)
  // makes some KVM ioctls give up with EINTR before doing anything: KVM_CREATE_VM failed 1337 times in
  // 5932 under Node's profiler at a 100 us interval. Such a call is made again, as TEMP_FAILURE_RETRY
  // does; KVM_RUN, whose EINTR is a kick, never comes here.
  long result;
  int attempts = 0;
  do {
    switch (spec.shape) {
      case ArgShape::kNone: result = ioctl(use.fd(), spec.number, 0); break;
      case ArgShape::kValue: result = ioctl(use.fd(), spec.number, static_cast<unsigned long>(argument.value)); break;
      default:
        result = ioctl(use.fd(), spec.number, spec.special == Special::kDirtyLog ? static_cast<void*>(&dirtyLog) : argument.data);
        break;
    }
  } while (result < 0 && errno == EINTR && ++attempts < kMaxEintrRetries);
  outcome.result = result < 0 ? -errno : result;
  if (outcome.result >= 0 && spec.special == Special::kMemoryRegion) {
    std::shared_ptr<PinSet> pins = state.pins();
    if (pins) {
      pins->SetSlotBytes(ReadField<uint32_t>(argument.data, KVMXEN_REGION_SLOT_OFFSET),
                         ReadField<uint64_t>(argument.data, KVMXEN_REGION_SIZE_OFFSET));
    }
  }
  if (outcome.result >= 0 && !plan.key.empty()) {
    std::shared_ptr<PinSet> pins = state.pins();
    if (pins) {
      if (plan.pin) pins->Set(plan.key, std::move(plan.pin));
      else pins->Erase(plan.key);
    }
  }
  return outcome;
}

Napi::Value JsIoctl(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const RequestSpec* spec = RequestFromArg(info, 1);
  if (spec == nullptr) return env.Undefined();
  if (spec->number == KVM_RUN) {
    return ThrowTypeError(env, "ERR_KVM_USE_RUNNER", "KVM_RUN goes through the vCPU runner, not ioctl()");
  }
  std::shared_ptr<FdState> state = FdHandle::FromArg(info, 0, spec->kinds);
  if (!state) return env.Undefined();
  IoctlArgument argument;
  if (!ReadIoctlArgument(info, 2, *spec, &argument)) return env.Undefined();
  IoctlResult outcome = PerformIoctl(*state, *spec, argument);
  if (!outcome.refusal.empty()) return ThrowRangeError(env, outcome.refusalCode, outcome.refusal);
  if (spec->createsKind != 0 && outcome.result >= 0) {
    const bool vm = spec->createsKind == kKindVm;
    // A vCPU shares its VM's pins: the VM lives in the kernel while any of its fds does.
    std::shared_ptr<PinSet> pins = vm ? std::make_shared<PinSet>() : state->pins();
    const size_t vcpuMmapBytes = vm ? VcpuMmapBytes(*state) : state->vcpuMmapBytes();
    auto created = std::make_shared<FdState>(static_cast<int>(outcome.result), static_cast<FdKind>(spec->createsKind), pins,
                                             vcpuMmapBytes);
    return FdHandle::New(env, created);
  }
  return Napi::Number::New(env, static_cast<double>(outcome.result));
}

Napi::Value JsRequests(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array table = Napi::Array::New(env, kRequestCount);
  for (size_t i = 0; i < kRequestCount; i++) {
    const RequestSpec& spec = kRequests[i];
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("name", spec.name);
    entry.Set("number", Napi::Number::New(env, static_cast<double>(spec.number)));
    entry.Set("size", Napi::Number::New(env, static_cast<double>(RequestStructSize(spec))));
    entry.Set("entrySize", Napi::Number::New(env, static_cast<double>(spec.entrySize)));
    Napi::Array kinds = Napi::Array::New(env);
    for (FdKind kind : {kKindSystem, kKindVm, kKindVcpu, kKindEventFd}) {
      if (spec.kinds & kind) kinds.Set(kinds.Length(), FdKindName(kind));
    }
    entry.Set("kinds", kinds);
    // The attributes of this request that carry a host address (checked against lib/xen/attributes.ts).
    Napi::Array pinned = Napi::Array::New(env);
    for (size_t p = 0; p < kAttributePinCount; p++) {
      const AttributePin& rule = kAttributePins[p];
      if (spec.special != rule.request) continue;
      Napi::Object row = Napi::Object::New(env);
      row.Set("name", rule.name);
      row.Set("type", Napi::Number::New(env, rule.hostType));
      row.Set("guestType", Napi::Number::New(env, rule.guestType));
      row.Set("bytes", Napi::Number::New(env, static_cast<double>(rule.bytes)));
      pinned.Set(pinned.Length(), row);
    }
    entry.Set("hostAddressAttributes", pinned);
    table.Set(i, entry);
  }
  return table;
}

Napi::Value JsOpenDevice(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) return ThrowTypeError(env, "ERR_INVALID_ARG_TYPE", "path must be a string");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  if (path.find('\0') != std::string::npos) return ThrowTypeError(env, "ERR_INVALID_ARG_VALUE", "path contains a NUL byte");
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return Napi::Number::New(env, -errno);
  return FdHandle::New(env, std::make_shared<FdState>(fd, kKindSystem, nullptr));
}

Napi::Value JsMapAnonymous(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t size = 0;
  // At most 4 GiB: the largest external ArrayBuffer Node 20 makes (Buffer's kMaxLength). Above it,
  // napi_create_external_arraybuffer fails after Node has already run the finalizer, and
  // node-addon-api then frees the finalizer's data a second time: a double free, not an exception.
  if (!ArgInteger(info, 0, "size", 1, kMaxMappingBytes, &size)) return env.Undefined();
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  if (size % page != 0) return ThrowRangeError(env, "ERR_OUT_OF_RANGE", "size must be a multiple of the page size");
  int error = 0;
  std::shared_ptr<MappingState> state = MappingState::Anonymous(size, &error);
  if (!state) return Napi::Number::New(env, -error);
  return Mapping::New(env, state);
}

Napi::Value JsMapVcpuRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<FdState> state = FdHandle::FromArg(info, 0, kKindVcpu);
  if (!state) return env.Undefined();
  uint64_t size = 0;
  if (!ArgInteger(info, 1, "size", 4096, static_cast<double>(state->vcpuMmapBytes()), &size)) return env.Undefined();
  FdUse use(*state);
  if (!use.ok()) return Napi::Number::New(env, -EBADF);
  int error = 0;
  // The mapping holds the vCPU file, hence the VM, alive in the kernel: keep its guest memory pinned.
  std::shared_ptr<MappingState> mapping = MappingState::SharedFile(use.fd(), size, state->pins(), &error);
  if (!mapping) return Napi::Number::New(env, -error);
  return Mapping::New(env, mapping);
}

}  // namespace kvmxen
