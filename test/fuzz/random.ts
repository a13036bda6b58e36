// Seeded randomness for the fuzz child (the same seed makes the same calls), and the values it throws
// at the library: wrong types, NaN, edges of every integer width, BigInt where a number belongs and the
// other way round, short, odd-typed, shared, detached and shrunk buffers, objects whose traps throw,
// and the live (or closed) objects of the run.

export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }

  /** mulberry32: a float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  }

  int(below: number): number {
    return Math.floor(this.next() * below);
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from nothing');
    return items[this.int(items.length)]!;
  }

  bigint64(): bigint {
    return (BigInt(this.int(2 ** 32)) << 32n) | BigInt(this.int(2 ** 32));
  }

  bytes(length: number): Uint8Array {
    const bytes = new Uint8Array(length);
    for (let i = 0; i < length; i++) bytes[i] = this.int(256);
    return bytes;
  }
}

const numbers = [
  0, -0, 1, -1, 0.5, 1.5, NaN, Infinity, -Infinity, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 46, 2 ** 53 - 1,
  2 ** 53, -(2 ** 53), 1e300, Number.MIN_VALUE, 38, 255, 256, 4095, 4096, 65536, 0xfee00000,
];
const bigints = [0n, 1n, -1n, 255n, 4096n, (1n << 63n) - 1n, 1n << 63n, (1n << 64n) - 1n, 1n << 64n, -(1n << 63n), 1n << 200n];
const strings = ['', '0', '1', '4096', 'KVM_RUN', 'KVM_GET_REGS', '/dev/kvm', '/dev/null', '/does/not/exist', 'a\0b', 'x'.repeat(10000)];

/** An object every trap of which throws. */
function throwingProxy(): object {
  const trap = (): never => {
    throw new Error('fuzz: proxy trap');
  };
  return new Proxy({}, { get: trap, has: trap, ownKeys: trap, getPrototypeOf: trap, getOwnPropertyDescriptor: trap });
}

function oddObjects(random: Random): unknown[] {
  return [
    {}, [], [1, 2, 3], Object.create(null), new Date(NaN), () => 0, Symbol('fuzz'), throwingProxy(),
    { valueOf: () => { throw new Error('fuzz: valueOf'); }, toString: () => { throw new Error('fuzz: toString'); } },
    Object.defineProperty({}, 'request', { get: () => { throw new Error('fuzz: getter'); }, enumerable: true }),
    { request: random.int(50), arg: random.int(8), stopPoint: random.chance(0.5) },
    { fd: 0, kind: 'vm', closed: false, close: () => undefined },
    { timeoutMs: random.pick(numbers) },
  ];
}

/** A byte container of some kind, length around `near` (the size a request wants). */
export function someBytes(random: Random, near = 64): unknown {
  const length = random.pick([0, 1, 7, 8, near - 1, near, near, near + 8, random.int(5000)].filter((n) => n >= 0));
  const filled = random.chance(0.5) ? random.bytes(length) : new Uint8Array(length);
  switch (random.int(10)) {
    case 0: return filled.buffer;
    case 1: return new DataView(filled.buffer);
    case 2: return new Float64Array(filled.buffer, 0, Math.floor(length / 8));
    case 3: return new BigUint64Array(filled.buffer, 0, Math.floor(length / 8));
    case 4: {
      const shared = new Uint8Array(new SharedArrayBuffer(length));
      shared.set(filled);
      return shared;
    }
    case 5: {
      // Detached: its view has no bytes left.
      const buffer = filled.buffer as ArrayBuffer;
      const view = new Uint8Array(buffer);
      structuredClone(buffer, { transfer: [buffer] });
      return view;
    }
    case 6: {
      // A length-tracking view of a resizable buffer, sometimes shrunk after the view was made.
      const buffer = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void })(length, { maxByteLength: length + 64 });
      const view = new Uint8Array(buffer);
      if (random.chance(0.5)) buffer.resize(random.int(length + 1));
      return view;
    }
    case 7: return length > 4 ? filled.subarray(3) : filled;
    default: return filled;
  }
}

/** Any value at all: a primitive, an odd object, bytes, or one of the run's live or closed objects. */
export function anyValue(random: Random, live: readonly unknown[]): unknown {
  switch (random.int(7)) {
    case 0: return random.pick(numbers);
    case 1: return random.chance(0.5) ? random.pick(bigints) : random.bigint64();
    case 2: return random.pick([undefined, null, true, false, ...strings]);
    case 3: return random.pick(oddObjects(random));
    case 4: return someBytes(random);
    default: return live.length > 0 ? random.pick(live) : undefined;
  }
}

/** A small non-negative integer most of the time, anything else sometimes. */
export function smallOrAny(random: Random, below: number, live: readonly unknown[]): unknown {
  return random.chance(0.8) ? random.int(below) : anyValue(random, live);
}

/** A run or wait timeout that cannot hang the fuzz: never 0 or absent ("no limit"), or the wrong type. */
export function boundedTimeout(random: Random): unknown {
  return random.pick([1, 2, 5, 20, 1, 2, -1, NaN, 1.5, '5', 1e12, 2n]);
}
