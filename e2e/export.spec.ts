import { unzipSync } from 'fflate';
import { GifReader } from 'omggif';
import { PNG } from 'pngjs';
import UPNG from 'upng-js';
import { expect, sampleKeyframes, test, type FilePayload } from './studio';

/**
 * The sample keyframes with their sky made transparent (a character cel on its own layer), the
 * pixels near the sky's colour half-covered (an antialiased edge).
 */
function transparentKeyframes(): FilePayload[] {
  return sampleKeyframes().map((f) => {
    const png = PNG.sync.read(f.buffer);
    const bg = [png.data[0]!, png.data[1]!, png.data[2]!];
    for (let i = 0; i < png.data.length; i += 4) {
      const d = [0, 1, 2].reduce((s, c) => s + Math.abs(png.data[i + c]! - bg[c]!), 0);
      if (d < 30) png.data[i + 3] = 0;
      else if (d < 90) png.data[i + 3] = 77;
    }
    return { ...f, name: `cel-${f.name}`, buffer: PNG.sync.write(png) };
  });
}

test.describe('exporting what the viewer plays', () => {
  test('a zip of numbered PNGs, a GIF with the player’s timing, and a WebM that plays', async ({
    studio,
    page,
  }) => {
    await studio.open();
    await studio.dropKeyframes();
    await studio.setNumber('run.count', 3);
    await studio.setNumber('run.steps', 2);
    await studio.run();
    await studio.expectDone(3);

    const zip = await studio.saveExport('viewer', 'zip');
    expect(zip.name).toBe('inbetweens.zip');
    const files = unzipSync(new Uint8Array(zip.bytes));
    const names = Object.keys(files).sort();
    expect(names).toEqual([1, 2, 3, 4, 5].map((i) => `inbetweens/inbetweens_000${i}.png`));
    const pngs = names.map((n) => PNG.sync.read(Buffer.from(files[n]!)));
    expect(pngs.map((p) => `${p.width}×${p.height}`)).toEqual(Array(5).fill('512×320'));
    // First and last are the keyframes exactly as dropped.
    const [start, end] = sampleKeyframes().map((f) => PNG.sync.read(f.buffer));
    expect(pngs[0]!.data.equals(start!.data)).toBe(true);
    expect(pngs[4]!.data.equals(end!.data)).toBe(true);
    await expect(studio.id('viewer.exportDone')).toContainText('inbetweens.zip');

    // The player runs at 6 fps by default: five drawings end at 17, 33, 50, 67 and 83 cs.
    const gif = new GifReader(new Uint8Array((await studio.saveExport('viewer', 'gif')).bytes));
    expect(gif.numFrames()).toBe(5);
    expect([0, 1, 2, 3, 4].map((i) => gif.frameInfo(i).delay)).toEqual([17, 16, 17, 17, 16]);
    expect(gif.loopCount()).toBe(0);

    // Ping-pong at 12 fps: 0 1 2 3 4 3 2 1, each 1/12 s; the WebM plays in Chromium for 8/12 s.
    await page.getByLabel('Frames per second').fill('12');
    await page.getByText('ping-pong').click();
    const webm = await studio.saveExport('viewer', 'webm');
    expect(webm.name).toBe('inbetweens.webm');
    expect([...webm.bytes.subarray(0, 4)]).toEqual([0x1a, 0x45, 0xdf, 0xa3]); // EBML
    const played = await studio.playVideo(webm.bytes, 'video/webm');
    expect(played.width).toBe(512);
    expect(played.height).toBe(320);
    expect(played.duration).toBeCloseTo(8 / 12, 1);
  });

  test('a transparent pair gives transparent in-betweens, kept in the PNGs and the WebM', async ({
    studio,
  }) => {
    await studio.open();
    await studio.dropKeyframes(transparentKeyframes());
    await studio.setNumber('run.count', 1);
    await studio.setNumber('run.steps', 2);
    await studio.run();
    await studio.expectDone(1);
    const files = unzipSync(new Uint8Array((await studio.saveExport('viewer', 'zip')).bytes));
    const pngs = Object.keys(files)
      .sort()
      .map((n) => PNG.sync.read(Buffer.from(files[n]!)));
    const alphaCounts = pngs.map((p) => {
      let clear = 0;
      let solid = 0;
      for (let i = 3; i < p.data.length; i += 4) {
        if (p.data[i] === 0) clear++;
        else if (p.data[i] === 255) solid++;
      }
      return { clear, solid };
    });
    // Keys exactly as dropped, the colours of clear and half-covered pixels too (a canvas keeps
    // premultiplied pixels: it would round them, and blacken the clear ones); the in-between is
    // transparent where neither key has the drawing.
    const [start] = transparentKeyframes().map((f) => PNG.sync.read(f.buffer));
    const half = start!.data.filter((v, i) => i % 4 === 3 && v === 77).length;
    expect(half).toBeGreaterThan(50);
    expect(pngs[0]!.data.equals(start!.data)).toBe(true);
    expect(alphaCounts[1]!.clear).toBeGreaterThan(0.4 * 512 * 320);
    expect(alphaCounts[1]!.solid).toBeGreaterThan(0.1 * 512 * 320);
    // WebM (VP9) keeps the alpha: its first frame, decoded by Chromium, is the start key's cut-out.
    const keyClear = alphaCounts[0]!.clear;
    const webm = await studio.playVideo(
      (await studio.saveExport('viewer', 'webm')).bytes,
      'video/webm',
    );
    expect(Math.abs(webm.clear - keyClear)).toBeLessThan(0.02 * 512 * 320);
    // MP4 has no alpha: composited on white, opaque, and it plays.
    const mp4 = await studio.saveExport('viewer', 'mp4');
    expect(mp4.bytes.subarray(4, 8).toString()).toBe('ftyp');
    const played = await studio.playVideo(mp4.bytes, 'video/mp4');
    expect({ clear: played.clear, width: played.width, height: played.height }).toEqual({
      clear: 0,
      width: 512,
      height: 320,
    });
  });
  test('an APNG is encoded off the page: the same frames as the zip, and Cancel stops it', async ({
    studio,
    page,
  }) => {
    await studio.open();
    await studio.dropKeyframes();
    await studio.setNumber('run.count', 15);
    await studio.setNumber('run.steps', 2);
    await studio.run();
    await studio.expectDone(15);
    const apng = UPNG.decode(
      new Uint8Array((await studio.saveExport('viewer', 'apng')).bytes).buffer,
    );
    expect([apng.width, apng.height, apng.frames.length]).toEqual([512, 320, 17]);
    const frames = UPNG.toRGBA8(apng).map((f) => new Uint8Array(f));
    const files = unzipSync(new Uint8Array((await studio.saveExport('viewer', 'zip')).bytes));
    Object.keys(files)
      .sort()
      .forEach((n, i) => {
        const png = PNG.sync.read(Buffer.from(files[n]!));
        expect(Buffer.from(frames[i]!).equals(png.data), `frame ${i + 1}`).toBe(true);
      });

    // Cancelled while it compresses (ping-pong: 32 frames; the last step is the compression, which
    // on the page itself froze it and left Cancel unheard): nothing is downloaded.
    const downloads: string[] = [];
    page.on('download', (d) => downloads.push(d.suggestedFilename()));
    await page.getByText('ping-pong').click();
    await studio.id('viewer.exportFormat').selectOption('apng');
    // Cancel is pressed from inside the page the moment "frame 32 of 33" shows: a press from the
    // test, a poll later, could come after a fast machine has finished compressing.
    await studio.id('viewer.export').evaluate((bar) => {
      const w = window as unknown as { cancelPressed?: boolean };
      const observer = new MutationObserver(() => {
        const progress = bar.querySelector('[data-testid="viewer.exportProgress"]');
        if (progress?.textContent !== 'frame 32 of 33') return;
        observer.disconnect();
        [...bar.querySelectorAll('button')].find((b) => b.textContent === 'Cancel')!.click();
        w.cancelPressed = true;
      });
      observer.observe(bar, { childList: true, subtree: true, characterData: true });
    });
    await studio.id('viewer.exportRun').click();
    await page.waitForFunction(() => 'cancelPressed' in window, undefined, { timeout: 30_000 });
    await expect(studio.id('viewer.exportRun')).toBeVisible();
    await page.waitForTimeout(3000);
    expect(downloads).toEqual([]);
    await expect(studio.errors()).toHaveCount(0);
  });
});
