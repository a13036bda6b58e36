// The command's output comes back on its own virtio-serial ports, and after the command exits the
// guest's init writes an end marker on each port: "KVMXEN-END-<nonce>:<status>\n". The nonce is a
// per-run secret the command never sees, so no output can fake the marker; and because the marker
// travels behind the output on the same port, seeing it means every byte before it has arrived. This
// file finds the marker in the byte stream and passes everything before it on, unchanged.

export const END_MARKER_PREFIX = 'KVMXEN-END-';

export function endMarker(nonce: string): Buffer {
  return Buffer.from(`${END_MARKER_PREFIX}${nonce}:`, 'latin1');
}

/** The longest tail of `data` that is a proper prefix of `marker` (it may be a marker cut in two). */
function partialMarkerLength(data: Buffer, marker: Buffer): number {
  for (let length = Math.min(marker.length - 1, data.length); length > 0; length--) {
    if (data.compare(marker, 0, length, data.length - length) === 0) return length;
  }
  return 0;
}

/**
 * Splits one port's byte stream into the command's output (passed to `sink` as it arrives) and the end
 * marker. Bytes that could be the start of a marker are held back until the next chunk decides.
 */
export class EndMarkedStream {
  private held: Buffer = Buffer.alloc(0);
  private endText: string | undefined;

  constructor(private readonly marker: Buffer, private readonly sink: (chunk: Buffer) => void) {}

  /** What followed the marker on its line (the exit status), once the marker has arrived. */
  get ending(): string | undefined {
    return this.endText;
  }

  push(chunk: Buffer): void {
    // After the marker only a background process the command left behind can write; that is dropped.
    if (this.endText !== undefined) return;
    const data = this.held.length > 0 ? Buffer.concat([this.held, chunk]) : chunk;
    const at = data.indexOf(this.marker);
    if (at >= 0) {
      this.emit(data.subarray(0, at));
      const newline = data.indexOf(0x0a, at + this.marker.length);
      if (newline < 0) {
        this.held = data.subarray(at);
      } else {
        this.held = Buffer.alloc(0);
        this.endText = data.toString('latin1', at + this.marker.length, newline);
      }
      return;
    }
    const keep = partialMarkerLength(data, this.marker);
    this.emit(data.subarray(0, data.length - keep));
    this.held = Buffer.from(data.subarray(data.length - keep));
  }

  /** The port closed: anything held back was not a marker after all. */
  close(): void {
    if (this.endText === undefined) this.emit(this.held);
    this.held = Buffer.alloc(0);
  }

  private emit(bytes: Buffer): void {
    if (bytes.length > 0) this.sink(bytes);
  }
}
