// What the library's long steps report while they run (downloads, unpacking, builds, installs, a VM's
// retry, the guest's console). The library prints nothing: a caller who wants to see these passes an
// `onProgress` callback in the options of the call; the CLI passes one that prints them on stderr.
export type ProgressEvent =
  /** A step that may take a while is starting: "fetching linux-image-... (110.2 MB) with apt-get download". */
  | { kind: 'step'; text: string }
  /** A download's state, a few times a second while it runs, and once more with `done` at its end. */
  | { kind: 'download'; name: string; bytes: number; expectedBytes: number | undefined; done: boolean }
  /** A host tool's own messages (apt-get's), as they come. */
  | { kind: 'toolOutput'; text: string }
  /** runInVm boots a fresh VM after an infrastructure flake; `reason` says what happened. */
  | { kind: 'retry'; reason: string }
  /** The guest kernel's console as it comes (only when the run asked for `verbose`). */
  | { kind: 'console'; text: string };

export type OnProgress = (event: ProgressEvent) => void;
