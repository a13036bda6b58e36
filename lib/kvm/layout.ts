// Binary struct layouts as data: each struct is declared once, with its C size and field offsets, and
// encoded to / decoded from bytes through a DataView (little-endian, as on x86). Values are checked
// on encode: a number that does not fit its field throws a RangeError instead of wrapping silently.

export type Scalar = 'u8' | 'u16' | 'u32' | 'i32' | 'u64' | 'i64';

type ScalarValue<T extends Scalar> = T extends 'u64' | 'i64' ? bigint : number;

export interface ScalarField<T extends Scalar = Scalar> {
  readonly offset: number;
  readonly type: T;
}
export interface ArrayField<T extends Scalar = Scalar> {
  readonly offset: number;
  readonly type: T;
  readonly count: number;
}
export interface NestedField<S extends Struct<Fields> = Struct<Fields>> {
  readonly offset: number;
  readonly struct: S;
}
export type Field = ScalarField | ArrayField | NestedField;
export type Fields = Record<string, Field>;

export type FieldValue<F> =
  F extends NestedField<infer S> ? (S extends Struct<infer G> ? Values<G> : never)
  : F extends ArrayField<infer T> ? ScalarValue<T>[]
  : F extends ScalarField<infer T> ? ScalarValue<T>
  : never;

export type Values<F extends Fields> = { [K in keyof F]: FieldValue<F[K]> };
export type PartialValues<F extends Fields> = { [K in keyof F]?: FieldValue<F[K]> };

const sizes: Record<Scalar, number> = { u8: 1, u16: 2, u32: 4, i32: 4, u64: 8, i64: 8 };

const limits: Record<'u8' | 'u16' | 'u32' | 'i32', [number, number]> = {
  u8: [0, 0xff],
  u16: [0, 0xffff],
  u32: [0, 0xffffffff],
  i32: [-0x80000000, 0x7fffffff],
};

function fieldSize(field: Field): number {
  if ('struct' in field) return field.struct.size;
  return sizes[field.type] * ('count' in field ? field.count : 1);
}

function readScalar(view: DataView, offset: number, type: Scalar): number | bigint {
  switch (type) {
    case 'u8': return view.getUint8(offset);
    case 'u16': return view.getUint16(offset, true);
    case 'u32': return view.getUint32(offset, true);
    case 'i32': return view.getInt32(offset, true);
    case 'u64': return view.getBigUint64(offset, true);
    case 'i64': return view.getBigInt64(offset, true);
  }
}

/** "struct.field" or "struct.field[i]", for an error (built only then: encoding is on the exit path). */
function fieldName(structName: string, key: string, index?: number): string {
  return index === undefined ? `${structName}.${key}` : `${structName}.${key}[${index}]`;
}

// The 64-bit bounds as constants: computed in writeScalar they were two BigInt shifts per u64 written.
const U64_END = 1n << 64n;
const I64_MIN = -(1n << 63n);
const I64_END = 1n << 63n;

function writeScalar(view: DataView, offset: number, type: Scalar, value: unknown, structName: string, key: string, index?: number): void {
  if (type === 'u64' || type === 'i64') {
    if (typeof value !== 'bigint') throw new TypeError(`${fieldName(structName, key, index)} must be a bigint`);
    const ok = type === 'u64' ? value >= 0n && value < U64_END : value >= I64_MIN && value < I64_END;
    if (!ok) throw new RangeError(`${fieldName(structName, key, index)} = ${value} does not fit ${type}`);
    if (type === 'u64') view.setBigUint64(offset, value, true);
    else view.setBigInt64(offset, value, true);
    return;
  }
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new TypeError(`${fieldName(structName, key, index)} must be an integer`);
  const [min, max] = limits[type];
  if (value < min || value > max) throw new RangeError(`${fieldName(structName, key, index)} = ${value} does not fit ${type}`);
  switch (type) {
    case 'u8': view.setUint8(offset, value); break;
    case 'u16': view.setUint16(offset, value, true); break;
    case 'u32': view.setUint32(offset, value, true); break;
    case 'i32': view.setInt32(offset, value, true); break;
  }
}

export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export class Struct<F extends Fields> {
  /**
   * The fields' names and fields in order, listed once (decode runs on every exit that reads a struct),
   * in two arrays walked by index: no iterator or destructured pair per field in V8's interpreter,
   * which is what runs most of this in the TCG guest.
   */
  private readonly keys: readonly string[];
  private readonly fieldList: readonly Field[];

  constructor(readonly name: string, readonly size: number, readonly fields: F) {
    const keys = Object.keys(fields), fieldList: Field[] = [];
    for (const key of keys) {
      const field = fields[key]!;
      if (field.offset < 0 || field.offset + fieldSize(field) > size) {
        throw new Error(`${name}.${key} lies outside the ${size}-byte struct`);
      }
      fieldList.push(field);
    }
    this.keys = keys;
    this.fieldList = fieldList;
  }

  /** A zeroed struct with `values` written into it. */
  encode(values: PartialValues<F> = {}): Uint8Array {
    const bytes = new Uint8Array(this.size);
    this.write(viewOf(bytes), 0, values);
    return bytes;
  }

  write(view: DataView, base: number, values: PartialValues<F>): void {
    // Keys, not entries: no [key, value] pair allocated per field (this runs on every encode).
    for (const key of Object.keys(values)) {
      const value = (values as Record<string, unknown>)[key];
      if (value === undefined) continue;
      const field = this.fields[key];
      if (field === undefined) throw new TypeError(`${this.name} has no field ${key}`);
      if ('struct' in field) {
        field.struct.write(view, base + field.offset, value as PartialValues<Fields>);
      } else if ('count' in field) {
        if (!Array.isArray(value) || value.length > field.count) {
          throw new TypeError(`${fieldName(this.name, key)} must be an array of at most ${field.count}`);
        }
        value.forEach((item, i) => writeScalar(view, base + field.offset + i * sizes[field.type], field.type, item, this.name, key, i));
      } else {
        writeScalar(view, base + field.offset, field.type, value, this.name, key);
      }
    }
  }

  decode(source: Uint8Array | DataView, base = 0): Values<F> {
    const view = source instanceof DataView ? source : viewOf(source);
    const out: Record<string, unknown> = {};
    for (let i = 0; i < this.keys.length; i++) {
      const key = this.keys[i]!, field = this.fieldList[i]!;
      if ('struct' in field) {
        out[key] = field.struct.decode(view, base + field.offset);
      } else if ('count' in field) {
        const items: Array<number | bigint> = [];
        for (let j = 0; j < field.count; j++) items.push(readScalar(view, base + field.offset + j * sizes[field.type], field.type));
        out[key] = items;
      } else {
        out[key] = readScalar(view, base + field.offset, field.type);
      }
    }
    return out as Values<F>;
  }

  /** One field, read in place. */
  get<K extends keyof F & string>(view: DataView, base: number, key: K): FieldValue<F[K]> {
    const field = this.fields[key]!;
    if ('struct' in field || 'count' in field) return this.decode(view, base)[key];
    return readScalar(view, base + field.offset, field.type) as FieldValue<F[K]>;
  }

  /** One field, written in place. */
  set<K extends keyof F & string>(view: DataView, base: number, key: K, value: FieldValue<F[K]>): void {
    this.write(view, base, { [key]: value } as unknown as PartialValues<F>);
  }
}

export function struct<F extends Fields>(name: string, size: number, fields: F): Struct<F> {
  return new Struct(name, size, fields);
}

export const u8 = (offset: number): ScalarField<'u8'> => ({ offset, type: 'u8' });
export const u16 = (offset: number): ScalarField<'u16'> => ({ offset, type: 'u16' });
export const u32 = (offset: number): ScalarField<'u32'> => ({ offset, type: 'u32' });
export const i32 = (offset: number): ScalarField<'i32'> => ({ offset, type: 'i32' });
export const u64 = (offset: number): ScalarField<'u64'> => ({ offset, type: 'u64' });
export const i64 = (offset: number): ScalarField<'i64'> => ({ offset, type: 'i64' });
export const array = <T extends Scalar>(offset: number, type: T, count: number): ArrayField<T> => ({ offset, type, count });
export const nested = <S extends Struct<Fields>>(offset: number, s: S): NestedField<S> => ({ offset, struct: s });
