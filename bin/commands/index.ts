// The table of CLI verbs. Each verb lives in its own file.
import type { Command } from './command';

export const commands: Record<string, Command> = {
};
