// The table of CLI verbs. Each verb lives in its own file.
import { bisect } from './bisect';
import { boot } from './boot';
import { buildKvm } from './build-kvm';
import type { Command } from './command';
import { compare } from './compare';
import { guest } from './guest';
import { info } from './info';
import { setup } from './setup';
import { test } from './test';
import { tree } from './tree';
import { vm } from './vm';

export const commands: Record<string, Command> = {
  test,
  vm,
  boot,
  setup,
  compare,
  bisect,
  info,
  'build-kvm': buildKvm,
  guest,
  tree,
};
