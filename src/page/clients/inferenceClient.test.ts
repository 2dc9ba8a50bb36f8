import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../core/manifest';
import { isVariantLoaded, loadedVariantKey } from './inferenceClient';

const parsed = parseManifest(
  readFileSync(resolve(import.meta.dirname, '../../../models/tiny/manifest.json'), 'utf8'),
);
if (!parsed.ok) throw new Error(parsed.errors.join('; '));
const manifest = parsed.manifest;

describe('which variant the inference worker holds', () => {
  it('is identified by its files and the backend asked for, not by where they came from', () => {
    const [a, b] = manifest.variants;
    expect(a && b).toBeTruthy();
    const key = loadedVariantKey(manifest, a!.id, 'auto');
    // The same pack read again (another URL, a folder, the cache) is the same model.
    const copy = structuredClone(manifest);
    copy.name = 'Another name for the same files';
    expect(loadedVariantKey(copy, a!.id, 'auto')).toBe(key);
    expect(loadedVariantKey(manifest, a!.id, 'wasm')).not.toBe(key);
    if (a!.denoiser !== b!.denoiser) {
      expect(loadedVariantKey(manifest, b!.id, 'auto')).not.toBe(key);
    }
    // A pack whose denoiser was rebuilt under the same name is another model.
    const rebuilt = structuredClone(manifest);
    rebuilt.graphs.denoisers[a!.denoiser]!.sha256 = 'f'.repeat(64);
    expect(loadedVariantKey(rebuilt, a!.id, 'auto')).not.toBe(key);
    // So is the same files under an edited manifest: the worker reads its settings at load.
    const edited = structuredClone(manifest);
    edited.latent.scaleFactor = manifest.latent.scaleFactor * 2;
    expect(loadedVariantKey(edited, a!.id, 'auto')).not.toBe(key);
  });

  it('is nothing before a load', () => {
    expect(isVariantLoaded(manifest, manifest.variants[0]!.id, 'auto')).toBe(false);
  });

  it('refuses a variant the pack does not have', () => {
    expect(() => loadedVariantKey(manifest, 'nope', 'auto')).toThrow(/has no variant "nope"/);
  });
});
