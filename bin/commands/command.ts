// What every CLI verb provides. run() returns the process exit status.
export interface Command {
  readonly summary: string;
  run(argv: string[]): Promise<number>;
}
