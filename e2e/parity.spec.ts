import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PNG } from 'pngjs';
import { main as cli } from '../src/cli/main';
import { expect, ROOT, test } from './studio';

test('the worker in Chromium and the CLI in Node give the same frames for the same seed', async ({
  studio,
}) => {
  await studio.open();
  await studio.dropKeyframes();
  await studio.chooseVariant('lora');
  await studio.id('run.lora').fill('0.5');
  await studio.setNumber('run.count', 2);
  await studio.setNumber('run.steps', 4);
  await studio.setNumber('run.seed', 77);
  await studio.run();
  await studio.expectDone(2);
  const browserFrames = await studio
    .id('viewer.frame')
    .evaluateAll(async (imgs) =>
      Promise.all(
        (imgs as HTMLImageElement[]).map(async (img) => [
          ...new Uint8Array(await (await fetch(img.src)).arrayBuffer()),
        ]),
      ),
    );

  const out = mkdtempSync(join(tmpdir(), 'parity-'));
  const code = await cli([
    'interpolate',
    '--pack',
    resolve(ROOT, process.env.TEST_PACK ?? 'models/tiny'),
    '--start',
    resolve(ROOT, 'public/samples/bounce-start.png'),
    '--end',
    resolve(ROOT, 'public/samples/bounce-end.png'),
    '--out',
    out,
    '--variant',
    'lora',
    '--lora-scale',
    '0.5',
    '--frames',
    '2',
    '--steps',
    '4',
    '--seed',
    '77',
  ]);
  expect(code).toBe(0);
  for (let i = 0; i < 2; i++) {
    const a = PNG.sync.read(Buffer.from(browserFrames[i]!));
    const b = PNG.sync.read(readFileSync(join(out, `frame_0${i + 1}.png`)));
    expect([a.width, a.height]).toEqual([b.width, b.height]);
    let max = 0;
    let sum = 0;
    for (let k = 0; k < a.data.length; k++) {
      const d = Math.abs(a.data[k]! - b.data[k]!);
      max = Math.max(max, d);
      sum += d;
    }
    // Same graphs, same core code: WASM and native differ only in the last float bits.
    expect(max).toBeLessThanOrEqual(2);
    expect(sum / a.data.length).toBeLessThan(0.05);
  }
});
