# Builds everything that is not the addon: the freestanding guest programs (ELF files that lib/guest
# loads into a VM) and small host-side C tools. `npm install` runs `make guests`; node-gyp builds the
# addon.
BUILD := build
GUEST_BUILD := $(BUILD)/guest
RUNTIME_DIR := lib/guest/runtime

# The compiler and its flags live in one place, $(RUNTIME_DIR)/flags.json, which `kvm-xen guest build`
# (lib/guest/build.ts) reads as well.
guest_flag = $(subst {runtime},$(RUNTIME_DIR),$(shell node -p "[].concat(require('./$(RUNTIME_DIR)/flags.json').$(1)).join(' ')"))
GUEST_CC := $(call guest_flag,cc)
GUEST_CFLAGS := $(call guest_flag,cflags)
GUEST_LDFLAGS := $(call guest_flag,ldflags)

RUNTIME_SOURCES := $(wildcard $(RUNTIME_DIR)/*.c) $(wildcard $(RUNTIME_DIR)/*.S)
RUNTIME_OBJECTS := $(patsubst $(RUNTIME_DIR)/%,$(GUEST_BUILD)/runtime/%.o,$(RUNTIME_SOURCES))
RUNTIME_HEADERS := $(wildcard $(RUNTIME_DIR)/*.h)

# Guest programs: one C file each, named <dir>/guests/<name>.c, built as build/guest/<name>.elf.
GUEST_SOURCES := $(wildcard test/guests/*.c selftests/guests/*.c bench/guests/*.c)
GUEST_ELVES := $(foreach source,$(GUEST_SOURCES),$(GUEST_BUILD)/$(basename $(notdir $(source))).elf)

.PHONY: guests tools clean
guests: $(GUEST_ELVES) tools

# Host-side helpers: the VM runner's keeper (static: it runs in the guest's initramfs), the C
# baseline of the exit benchmarks (bench/exits.ts) and their KVM_RUN stub and timer (bench/exit-cost.ts),
# and the C shinfo test's EVTCHN_SEND counter (bench/shinfo.ts).
tools: $(BUILD)/tools/vm-keeper $(BUILD)/tools/pio_host $(BUILD)/tools/kvm_run_shim.so $(BUILD)/tools/evtchn_send_count.so

$(BUILD)/tools/vm-keeper: lib/vm/keeper.c
	@mkdir -p $(dir $@)
	gcc -O2 -Wall -Wextra -static -o $@ $<

$(BUILD)/tools/pio_host: bench/pio_host.c
	@mkdir -p $(dir $@)
	gcc -O2 -Wall -Wextra -pthread -o $@ $<

$(BUILD)/tools/kvm_run_shim.so: bench/kvm_run_shim.c
	@mkdir -p $(dir $@)
	gcc -O2 -Wall -Wextra -shared -fPIC -o $@ $< -ldl

$(BUILD)/tools/evtchn_send_count.so: bench/evtchn_send_count.c
	@mkdir -p $(dir $@)
	gcc -O2 -Wall -Wextra -shared -fPIC -o $@ $< -ldl

$(GUEST_BUILD)/runtime/%.c.o: $(RUNTIME_DIR)/%.c $(RUNTIME_HEADERS) $(RUNTIME_DIR)/flags.json
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -c $< -o $@

$(GUEST_BUILD)/runtime/%.S.o: $(RUNTIME_DIR)/%.S $(RUNTIME_DIR)/flags.json
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -c $< -o $@

define guest_rule
$(GUEST_BUILD)/$(basename $(notdir $(1))).elf: $(1) $(RUNTIME_OBJECTS) $(RUNTIME_HEADERS) $(RUNTIME_DIR)/guest.ld
	@mkdir -p $(GUEST_BUILD)
	$(GUEST_CC) $(GUEST_CFLAGS) $(GUEST_LDFLAGS) $(1) $(RUNTIME_OBJECTS) -o $$@
endef
$(foreach source,$(GUEST_SOURCES),$(eval $(call guest_rule,$(source))))

clean:
	rm -rf $(GUEST_BUILD) $(BUILD)/tools
