#include "run_delay.h"

#include <fcntl.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "arguments.h"
#include "clock.h"

namespace kvmxen {

int64_t ReadRunDelay() {
  int fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  char text[128];
  ssize_t got = read(fd, text, sizeof(text) - 1);
  int error = errno;
  close(fd);
  if (got <= 0) return got < 0 ? -error : -EIO;
  text[got] = '\0';
  // "<time on cpu> <run delay> <timeslices>"
  char* end = nullptr;
  strtoull(text, &end, 10);
  if (end == text) return -EIO;
  char* second = end;
  unsigned long long delay = strtoull(second, &end, 10);
  if (end == second) return -EIO;
  return static_cast<int64_t>(delay);
}

int64_t YieldUntilRunDelay(uint64_t ns, uint64_t timeoutNs, const std::atomic<bool>* stop) {
  const int64_t start = ReadRunDelay();
  if (start < 0) return start;
  const uint64_t deadline = MonotonicNs() + timeoutNs;
  for (;;) {
    sched_yield();
    const int64_t now = ReadRunDelay();
    if (now < 0) return now;
    if (static_cast<uint64_t>(now - start) >= ns) return now - start;
    if (MonotonicNs() > deadline) return -ETIMEDOUT;
    if (stop != nullptr && stop->load()) return -EINTR;
  }
}

Napi::Value JsReadRunDelay(const Napi::CallbackInfo& info) {
  int64_t delay = ReadRunDelay();
  if (delay < 0) return Napi::Number::New(info.Env(), static_cast<double>(delay));
  return Napi::BigInt::New(info.Env(), delay);
}

Napi::Value JsYieldUntilRunDelay(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t ns = 0, timeoutMs = 0;
  if (!ArgInteger(info, 0, "ns", 0, 1e12, &ns) || !ArgInteger(info, 1, "timeoutMs", 0, 3600000, &timeoutMs)) {
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(YieldUntilRunDelay(ns, timeoutMs * 1000000ull)));
}

}  // namespace kvmxen
