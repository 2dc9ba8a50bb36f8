import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseManifest, type PackManifest } from '../../core/manifest';
import { loraName, variantTitle } from './kioskVariants';

function manifestOf(dir: string): PackManifest {
  const r = parseManifest(readFileSync(`models/${dir}/manifest.json`, 'utf8'));
  if (!r.ok) throw new Error(r.errors.join('; '));
  return r.manifest;
}

const tiny = manifestOf('tiny');
const cel = manifestOf('cel');

describe('kiosk titles', () => {
  it('name a LoRA as its pack labels it, without "(live scale)"', () => {
    for (const m of [tiny, cel]) {
      const lora = m.variants.find((v) => v.loraScale)!;
      expect(loraName(lora)).toBe(lora.label.replace(' (live scale)', ''));
      expect(loraName(lora)).not.toMatch(/live scale/);
      expect(variantTitle(m, lora)).toMatch(new RegExp(`^${loraName(lora)} · \\d+ steps$`));
    }
    const tinyLora = tiny.variants.find((v) => v.loraScale)!;
    expect(variantTitle(tiny, tinyLora)).toMatch(/^LoRA · \d+ steps$/);
  });

  it('fall back to "LoRA" when the label is nothing but the suffix', () => {
    const lora = cel.variants.find((v) => v.loraScale)!;
    expect(loraName({ ...lora, label: '(live scale)' })).toBe('LoRA');
  });
});
