import { cliLoraRun, expect, test } from './studio';

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
  const browserFrames = await studio.shownFrames();
  const { frames: cliFrames } = await cliLoraRun();
  for (let i = 0; i < 2; i++) {
    const a = browserFrames[i]!;
    const b = cliFrames[i]!;
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
