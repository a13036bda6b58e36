# Builds everything that is not the addon: the freestanding guest programs (ELF files loaded by
# lib/guest) and small host-side C tools. `npm install` runs `make guests`; node-gyp builds the addon.
BUILD := build

.PHONY: guests clean
guests:

clean:
	rm -rf $(BUILD)/guest $(BUILD)/tools
