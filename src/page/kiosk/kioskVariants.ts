// Which of a pack's variants the booth offers, and what it calls them: pure functions of the manifest.
import { variantSteps } from '../../core/manifest';
import type { PackManifest, VariantSpec } from '../../core/manifest';

/** The pack's fastest variant: the one with the fewest steps (a distilled student), else the first. */
export function fastVariant(manifest: PackManifest): VariantSpec {
  return [...manifest.variants].sort(
    (a, b) => variantSteps(manifest, a) - variantSteps(manifest, b),
  )[0]!;
}

/** The variants a visitor chooses from: baseline, student and LoRA where the pack has them. */
export function kioskVariants(manifest: PackManifest): VariantSpec[] {
  const picked = ['baseline', 'student', 'lora']
    .map((id) => manifest.variants.find((v) => v.id === id))
    .filter((v): v is VariantSpec => Boolean(v));
  return picked.length ? picked : manifest.variants.slice(0, 3);
}

/** A LoRA variant's name as the pack labels it, without the "(live scale)" that every such label carries. */
export function loraName(v: VariantSpec): string {
  return v.label.replace(/\s*\(live scale\)\s*$/i, '') || 'LoRA';
}

export function variantTitle(manifest: PackManifest, v: VariantSpec): string {
  const steps = variantSteps(manifest, v);
  if (v.loraScale) return `${loraName(v)} · ${steps} steps`;
  if (v.id === 'student') return `Student · ${steps} steps`;
  if (v.id === 'baseline') return `Baseline · ${steps} steps`;
  return `${v.label} · ${steps} steps`;
}
