/**
 * SHA-256 of pack files, via WebCrypto (present in browsers, workers and Node ≥ 20), used to
 * verify every downloaded or picked file against the manifest before it is cached or run.
 */

/** Lowercase hex SHA-256 of `bytes`. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Throws a clear error when `bytes` is not the file the manifest describes (truncated,
 * corrupt or replaced).
 */
export async function verifyPackFile(
  file: string,
  bytes: Uint8Array,
  expected: { sizeBytes: number; sha256: string },
): Promise<void> {
  if (bytes.byteLength !== expected.sizeBytes) {
    throw new Error(
      `${file} is ${bytes.byteLength} bytes but the manifest says ${expected.sizeBytes} — the file is truncated or is not the one the manifest describes`,
    );
  }
  const actual = await sha256Hex(bytes);
  if (actual !== expected.sha256) {
    throw new Error(
      `${file} does not match its sha256 in the manifest (expected ${expected.sha256.slice(0, 12)}…, got ${actual.slice(0, 12)}…) — the file is corrupt or was replaced`,
    );
  }
}

/** The same check for a file hashed while it streamed in (`streamToChunks`). */
export function checkStreamedFile(
  file: string,
  got: { sizeBytes: number; sha256: string },
  expected: { sizeBytes: number; sha256: string },
): void {
  if (got.sizeBytes !== expected.sizeBytes) {
    throw new Error(
      `${file} is ${got.sizeBytes} bytes but the manifest says ${expected.sizeBytes} — the file is truncated or is not the one the manifest describes`,
    );
  }
  if (got.sha256 !== expected.sha256) {
    throw new Error(
      `${file} does not match its sha256 in the manifest (expected ${expected.sha256.slice(0, 12)}…, got ${got.sha256.slice(0, 12)}…) — the file is corrupt or was replaced`,
    );
  }
}
