/**
 * A reader for NumPy `.npy` files (format versions 1.0, 2.0 and 3.0), the format of a pack's
 * constant tensors (format 2: the empty-prompt embedding, precomputed prompts). Only the header is
 * interpreted — a Python dict literal with `descr`, `fortran_order` and `shape`, parsed here by a
 * small grammar, never evaluated — and only little-endian float32 in C order is accepted, so a
 * pack's constants are plain data.
 *
 * Specification: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
 */
import { unzipSync } from 'fflate';
import type { FloatTensor } from './graph';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** Largest constant the studio reads (elements): 64 Mi floats, 256 MiB. */
export const MAX_NPY_ELEMENTS = 64 * 1024 * 1024;

/** What a `.npy` header says. */
export interface NpyHeader {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
  /** Byte offset of the data. */
  dataOffset: number;
}

/** Parses the header of a `.npy` file; throws with a message naming `what` on anything malformed. */
export function parseNpyHeader(bytes: Uint8Array, what: string): NpyHeader {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new Error(`${what} is not a NumPy .npy file (no \\x93NUMPY magic)`);
  }
  const major = bytes[6]!;
  let headerLen: number;
  let start: number;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new Error(`${what}: truncated .npy header`);
    headerLen = view.getUint32(8, true);
    start = 12;
  } else {
    throw new Error(`${what}: .npy format version ${major} is not supported (1, 2 or 3)`);
  }
  if (start + headerLen > bytes.length || headerLen > 65536) {
    throw new Error(`${what}: truncated .npy header`);
  }
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(
    bytes.subarray(start, start + headerLen),
  );
  const dict = parseHeaderDict(text, what);
  return { ...dict, dataOffset: start + headerLen };
}

/** `{'descr': '<f4', 'fortran_order': False, 'shape': (1, 77, 64), }` → its three values. */
function parseHeaderDict(text: string, what: string): Omit<NpyHeader, 'dataOffset'> {
  const bad = (why: string) => new Error(`${what}: malformed .npy header (${why}): ${text.trim()}`);
  const body = text.trim();
  if (!body.startsWith('{') || !body.endsWith('}')) throw bad('not a dict');
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(body)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(body)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(body)?.[1];
  if (descr === undefined) throw bad('no descr');
  if (fortran === undefined) throw bad('no fortran_order');
  if (shapeText === undefined) throw bad('no shape');
  const parts = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const shape = parts.map((p) => {
    if (!/^\d+$/.test(p)) throw bad(`shape entry "${p}" is not a non-negative integer`);
    return Number(p);
  });
  return { descr, fortranOrder: fortran === 'True', shape };
}

/**
 * Reads a float32 `.npy` (little-endian `<f4`, C order) into a tensor. A scalar (shape `()`) is a
 * one-element tensor of dims []. Throws on any other dtype, Fortran order, a size over
 * MAX_NPY_ELEMENTS or a data length that does not match the shape.
 */
export function readNpyFloat32(bytes: Uint8Array, what: string): FloatTensor {
  const header = parseNpyHeader(bytes, what);
  if (header.descr !== '<f4') {
    throw new Error(
      `${what} holds dtype "${header.descr}"; the studio reads little-endian float32 ("<f4") constants — save it with numpy as np.float32`,
    );
  }
  if (header.fortranOrder) {
    throw new Error(
      `${what} is in Fortran order; save it in C order (np.ascontiguousarray) before packing`,
    );
  }
  const count = header.shape.reduce((a, b) => a * b, 1);
  if (count > MAX_NPY_ELEMENTS) {
    throw new Error(
      `${what} has ${count} elements; the most a constant may have is ${MAX_NPY_ELEMENTS}`,
    );
  }
  const have = bytes.length - header.dataOffset;
  if (have !== count * 4) {
    throw new Error(
      `${what} should hold ${count * 4} bytes of data for shape (${header.shape.join(', ')}) but holds ${have}`,
    );
  }
  const data = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset + header.dataOffset, count * 4);
  for (let i = 0; i < count; i++) data[i] = view.getFloat32(i * 4, true);
  return { data, dims: header.shape };
}

/** Writes a float32 tensor as a version-1.0 `.npy` file (C order), as numpy.save would. */
export function writeNpyFloat32(t: FloatTensor): Uint8Array {
  const shape = t.dims.length === 1 ? `(${t.dims[0]},)` : `(${t.dims.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }`;
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + t.data.length * 4);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  const view = new DataView(out.buffer);
  view.setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  const base = 10 + header.length;
  for (let i = 0; i < t.data.length; i++) view.setFloat32(base + i * 4, t.data[i]!, true);
  return out;
}

/**
 * Reads a pack constant (format 2) and checks it against its manifest entry: float32, and the
 * declared shape. Messages name the field (`constants.<name>.shape`).
 */
export function readPackConstant(
  name: string,
  spec: { file: string; shape: readonly number[] },
  bytes: Uint8Array,
): FloatTensor {
  const t = readNpyFloat32(bytes, `constants.${name} (${spec.file})`);
  if (t.dims.length !== spec.shape.length || t.dims.some((d, i) => d !== spec.shape[i])) {
    throw new Error(
      `constants.${name}.shape: the manifest says [${spec.shape.join(', ')}] but ${spec.file} holds [${t.dims.join(', ')}]`,
    );
  }
  for (let i = 0; i < t.data.length; i++) {
    if (!Number.isFinite(t.data[i]!)) {
      throw new Error(`constants.${name} (${spec.file}) holds non-finite values`);
    }
  }
  return t;
}

/**
 * The arrays of a NumPy `.npz` archive (`np.savez`: a zip of `<name>.npy` files), by name, as raw
 * `.npy` bytes for readNpyFloat32. Unzipped with fflate.
 */
export function readNpz(bytes: Uint8Array, what: string): Record<string, Uint8Array> {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes);
  } catch (e) {
    throw new Error(`${what} is not a NumPy .npz archive: ${(e as Error).message}`, { cause: e });
  }
  const out: Record<string, Uint8Array> = {};
  for (const [name, data] of Object.entries(files)) {
    if (name.endsWith('.npy')) out[name.slice(0, -4)] = data;
  }
  return out;
}
