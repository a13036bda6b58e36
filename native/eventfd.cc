#include "eventfd.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

#include "arguments.h"
#include "fd_handle.h"

namespace kvmxen {

Napi::Value JsEventFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t initial = 0;
  if (!ArgInteger(info, 0, "initval", 0, 4294967295.0, &initial)) return env.Undefined();
  if (!info[1].IsBoolean()) return ThrowTypeError(env, "ERR_INVALID_ARG_TYPE", "semaphore must be a boolean");
  int flags = EFD_CLOEXEC | EFD_NONBLOCK;
  if (info[1].As<Napi::Boolean>().Value()) flags |= EFD_SEMAPHORE;
  int fd = eventfd(static_cast<unsigned>(initial), flags);
  if (fd < 0) return Napi::Number::New(env, -errno);
  return FdHandle::New(env, std::make_shared<FdState>(fd, kKindEventFd, nullptr));
}

Napi::Value JsEventFdWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<FdState> state = FdHandle::FromArg(info, 0, kKindEventFd);
  if (!state) return env.Undefined();
  if (!info[1].IsBigInt()) return ThrowTypeError(env, "ERR_INVALID_ARG_TYPE", "value must be a bigint");
  bool lossless = false;
  uint64_t value = info[1].As<Napi::BigInt>().Uint64Value(&lossless);
  // The kernel refuses 0xffffffffffffffff; 0 is legal but does nothing.
  if (!lossless || value == UINT64_MAX) {
    return ThrowRangeError(env, "ERR_OUT_OF_RANGE", "value must be in [0, 2^64 - 2]");
  }
  FdUse use(*state);
  if (!use.ok()) return Napi::Number::New(env, -EBADF);
  ssize_t written = write(use.fd(), &value, sizeof(value));
  return Napi::Number::New(env, written < 0 ? -errno : 0);
}

Napi::Value JsEventFdRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<FdState> state = FdHandle::FromArg(info, 0, kKindEventFd);
  if (!state) return env.Undefined();
  FdUse use(*state);
  if (!use.ok()) return Napi::Number::New(env, -EBADF);
  uint64_t value = 0;
  ssize_t got = read(use.fd(), &value, sizeof(value));
  if (got < 0) return Napi::Number::New(env, -errno);
  return Napi::BigInt::New(env, value);
}

}  // namespace kvmxen
