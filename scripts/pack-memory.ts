/**
 * `npm run pack:memory -- --pack DIR`: measures the working memory of the pack's graphs
 * (src/node/packMemory.ts) and writes it into the manifest as `memory`, which the studio's memory
 * estimate reads before loading. `--check` prints the figures without writing.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { formatBytes } from '../src/core/format';
import { readPackManifest } from '../src/node/nodeRuntime';
import { measurePackMemory } from '../src/node/packMemory';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: { pack: { type: 'string', default: 'models/cel' }, check: { type: 'boolean' } },
});
const dir = resolve(values.pack!);
const manifest = await readPackManifest(dir);
const m = await measurePackMemory(dir, manifest);
for (const [variant, files] of Object.entries(m.perVariant)) {
  const parts = Object.entries(files).map(([f, b]) => `${f} ${formatBytes(b)}`);
  console.log(`${variant}: ${parts.join(', ')}`);
}
for (const [f, names] of Object.entries(m.unknown))
  console.log(`${f}: ${names.length} tensors without a settled shape, not counted`);
if (m.note) console.log(m.note);
console.log(
  `memory: ${formatBytes(m.memory.activationBytes)} at ${m.memory.atSize.join('×')}` +
    (m.memory.quadraticShare !== undefined
      ? `, ${(m.memory.quadraticShare * 100).toFixed(1)}% of it growing with the square of the area`
      : ''),
);
if (!values.check) {
  const file = join(dir, 'manifest.json');
  const raw = JSON.parse(readFileSync(file, 'utf8'));
  raw.memory = m.memory;
  writeFileSync(file, JSON.stringify(raw, null, 2) + '\n');
  console.log(`wrote ${file}`);
}
