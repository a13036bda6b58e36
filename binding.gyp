{
  "targets": [
    {
      "target_name": "kvm_xen",
      "sources": [
        "native/addon.cc",
        "native/errors.cc",
        "native/arguments.cc",
        "native/attribute_pins.cc",
        "native/fd_handle.cc",
        "native/mapping.cc",
        "native/requests.cc",
        "native/ioctl.cc",
        "native/eventfd.cc",
        "native/vcpu_runner.cc",
        "native/ioctl_loop.cc",
        "native/run_delay.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-fexceptions"],
      "cflags_cc!": ["-fno-exceptions"]
    }
  ]
}
