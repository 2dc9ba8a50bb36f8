/**
 * Page object and fixtures for the studio's end-to-end tests: what a person does (drop files,
 * pick a variant, press Run), addressed through dot-namespaced test ids.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test as base, expect, type Locator, type Page } from '@playwright/test';
import { PNG } from 'pngjs';
import { main as cli } from '../src/cli/main';

export const ROOT = resolve(import.meta.dirname, '..');

export interface FilePayload {
  name: string;
  mimeType: string;
  buffer: Buffer;
}

/** The project's own sample keyframes (public/samples). */
export function sampleKeyframes(): [FilePayload, FilePayload] {
  return [
    {
      name: 'bounce-start.png',
      mimeType: 'image/png',
      buffer: readFileSync(resolve(ROOT, 'public/samples/bounce-start.png')),
    },
    {
      name: 'bounce-end.png',
      mimeType: 'image/png',
      buffer: readFileSync(resolve(ROOT, 'public/samples/bounce-end.png')),
    },
  ];
}

/** A pack's parity keyframes, `<dir>/parity/{start,end}.png`, as a person would drop them. */
export function parityKeyframes(dir: string): [FilePayload, FilePayload] {
  return (['start', 'end'] as const).map((k) => ({
    name: `${k}.png`,
    mimeType: 'image/png',
    buffer: readFileSync(resolve(dir, 'parity', `${k}.png`)),
  })) as [FilePayload, FilePayload];
}

/**
 * The largest difference, in levels of 255 over RGB, between the in-betweens shown and the
 * reference frames `<dir>/parity/frame_<k>.png` (k from 1), which must have the same sizes.
 */
export function worstDiffToParityFrames(shown: PNG[], dir: string): number {
  let worst = 0;
  shown.forEach((got, k) => {
    const want = PNG.sync.read(readFileSync(resolve(dir, 'parity', `frame_${k + 1}.png`)));
    expect([got.width, got.height]).toEqual([want.width, want.height]);
    const ch = want.data.length / (want.width * want.height);
    for (let p = 0; p < want.width * want.height; p++)
      for (let c = 0; c < 3; c++)
        worst = Math.max(worst, Math.abs(got.data[p * 4 + c]! - want.data[p * ch + c]!));
  });
  return worst;
}

/**
 * The CLI's run (onnxruntime-node) of the settings the parity tests set in the page: the bounce
 * sample pair, the test pack's LoRA variant at scale 0.5, 2 in-betweens, 4 steps, seed 77. Returns
 * its frames and the folder it wrote (frames and run.json).
 */
export async function cliLoraRun(): Promise<{ frames: PNG[]; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'cli-run-'));
  const code = await cli([
    'interpolate',
    '--pack',
    resolve(ROOT, process.env.TEST_PACK ?? 'models/tiny'),
    '--start',
    resolve(ROOT, 'public/samples/bounce-start.png'),
    '--end',
    resolve(ROOT, 'public/samples/bounce-end.png'),
    '--out',
    dir,
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
  if (code !== 0) throw new Error(`the CLI exited with ${code}`);
  const frames = [1, 2].map((i) => PNG.sync.read(readFileSync(join(dir, `frame_0${i}.png`))));
  return { frames, dir };
}

/** Every key of the studio's pack cache (IndexedDB `inbetween-cache-v1`, store `files`). */
export function cacheKeys(page: Page): Promise<string[]> {
  return page.evaluate(async () => {
    const db = await new Promise<IDBDatabase>((res, rej) => {
      const r = indexedDB.open('inbetween-cache-v1');
      r.onsuccess = () => res(r.result);
      r.onerror = () => rej(r.error);
    });
    const keys = await new Promise<IDBValidKey[]>((res, rej) => {
      const r = db.transaction('files').objectStore('files').getAllKeys();
      r.onsuccess = () => res(r.result);
      r.onerror = () => rej(r.error);
    });
    db.close();
    return keys.map(String);
  });
}

/** A flat-colour PNG of the given size, drawn here. */
export function solidPng(
  name: string,
  width: number,
  height: number,
  rgb: [number, number, number],
): FilePayload {
  const png = new PNG({ width, height });
  for (let i = 0; i < width * height; i++) {
    png.data[i * 4] = rgb[0];
    png.data[i * 4 + 1] = rgb[1];
    png.data[i * 4 + 2] = rgb[2];
    png.data[i * 4 + 3] = 255;
  }
  return { name, mimeType: 'image/png', buffer: PNG.sync.write(png) };
}

/** Pastes an image into the page as a person's Ctrl+V would (a paste event on the window). */
export async function pasteImage(page: Page, file: FilePayload): Promise<void> {
  await page.evaluate(
    ({ bytes, name, type }) => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array(bytes)], name, { type }));
      window.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt }));
    },
    { bytes: [...file.buffer], name: file.name, type: file.mimeType },
  );
}

/** A scene key drawing: a dark outlined disc at (x, 160) on white, 512×320. */
export function discKey(name: string, x: number): FilePayload {
  const png = new PNG({ width: 512, height: 320 });
  for (let y = 0; y < 320; y++) {
    for (let i = 0; i < 512; i++) {
      const d = Math.hypot(i - x, y - 160);
      const v = d < 36 ? 60 : d < 40 ? 0 : 255;
      png.data.set([v, d < 36 ? 90 : v, d < 36 ? 200 : v, 255], (y * 512 + i) * 4);
    }
  }
  return { name, mimeType: 'image/png', buffer: PNG.sync.write(png) };
}

/** The scene the page autosaved, in brief; null while none is saved. */
export interface SavedSceneSummary {
  keys: string[];
  fps: number;
  /** The seeds of its in-betweens. */
  seeds: number[];
  /** Each gap's own settings. */
  specs: object[];
  onion: unknown;
}

/** Reads the autosaved scene (IndexedDB `inbetween-scene`, store `scene`, key `current`). */
export function savedScene(page: Page): Promise<SavedSceneSummary | null> {
  return page.evaluate(async () => {
    const db = await new Promise<IDBDatabase | null>((res, rej) => {
      const r = indexedDB.open('inbetween-scene');
      // Not made yet: made by the page's first save, not here (abort, so nothing is created).
      r.onupgradeneeded = () => r.transaction!.abort();
      r.onsuccess = () => res(r.result);
      r.onerror = () => (r.error?.name === 'AbortError' ? res(null) : rej(r.error));
    });
    if (!db) return null;
    try {
      if (!db.objectStoreNames.contains('scene')) return null;
      const saved = await new Promise<unknown>((res, rej) => {
        const r = db.transaction('scene').objectStore('scene').get('current');
        r.onsuccess = () => res(r.result);
        r.onerror = () => rej(r.error);
      });
      if (!saved) return null;
      const v = saved as {
        keys: { name: string }[];
        fps: number;
        results: Record<string, { frames: { seed: number }[] }>;
        specs: Record<string, object>;
        onion?: unknown;
      };
      return {
        keys: v.keys.map((k) => k.name),
        fps: v.fps,
        seeds: Object.values(v.results).flatMap((r) => r.frames.map((f) => f.seed)),
        specs: Object.values(v.specs),
        onion: v.onion ?? null,
      };
    } finally {
      db.close();
    }
  });
}

export class Studio {
  constructor(readonly page: Page) {}

  id(testId: string): Locator {
    return this.page.getByTestId(testId);
  }

  /**
   * Opens the studio on a pack: the tiny random pack by default (fast, and what most tests
   * assert about), or `E2E_PACK` / the argument (`cel` is the trained bundled pack).
   */
  async open(pack: string = process.env.E2E_PACK ?? 'tiny-random'): Promise<void> {
    await this.page.goto(`/?pack=${encodeURIComponent(pack)}`);
    // The bundled pack is listed and its manifest validated.
    await expect(this.id('variant.select')).toBeVisible();
  }

  /** Drops files onto a keyframe slot the way a person drags them from a file manager. */
  async dropFiles(target: Locator, files: FilePayload[]): Promise<void> {
    const payload = files.map((f) => ({ name: f.name, mimeType: f.mimeType, data: [...f.buffer] }));
    const dataTransfer = await this.page.evaluateHandle((items) => {
      const dt = new DataTransfer();
      for (const it of items)
        dt.items.add(new File([new Uint8Array(it.data)], it.name, { type: it.mimeType }));
      return dt;
    }, payload);
    await target.dispatchEvent('dragover', { dataTransfer });
    await target.dispatchEvent('drop', { dataTransfer });
  }

  /**
   * Drops keyframes on the start slot (two fill both slots, one the start slot) and waits until
   * the slots show them: decoding is async, and the keyframes shown before would pass a wait for
   * a slot that is merely filled. Each dropped image gets a new object URL and shows its name.
   */
  async dropKeyframes(files: FilePayload[] = sampleKeyframes()): Promise<void> {
    const slots = files.length > 1 ? ['start', 'end'] : ['start'];
    const shown = () =>
      this.page.evaluate(
        (ids) =>
          ids.map((slot) => {
            const el = document.querySelector(`[data-testid="keyframes.${slot}"]`);
            const meta = el?.querySelector(`[data-testid="keyframes.${slot}.meta"]`);
            return {
              url: el?.querySelector('img')?.getAttribute('src') ?? null,
              name: meta?.textContent?.split(' · ')[0] ?? null,
            };
          }),
        slots,
      );
    const before = await shown();
    await this.dropFiles(this.id('keyframes.start'), files);
    await expect
      .poll(
        async () => {
          const now = await shown();
          return {
            replaced: now.every((s, i) => s.url !== null && s.url !== before[i]!.url),
            names: now.map((s) => s.name).sort(),
          };
        },
        { intervals: [100] },
      )
      .toEqual({
        replaced: true,
        names: files
          .slice(0, slots.length)
          .map((f) => f.name)
          .sort(),
      });
  }

  /** Loads a pack by URL with the Model panel's "Load another pack" form. */
  async loadPackUrl(url: string): Promise<void> {
    await this.id('pack.url').evaluate(
      (el) => ((el.closest('details') as HTMLDetailsElement).open = true),
    );
    await this.id('pack.url').fill(url);
    await this.id('pack.url-load').click();
  }

  /** Chooses a bundled pack by its folder under models/ (default the tiny test pack). */
  async chooseBundledPack(
    dir = process.env.TEST_PACK?.replace(/^models\//, '') ?? 'tiny',
  ): Promise<void> {
    await this.id('pack.select').selectOption(`bundled:${dir}/`);
    await expect(this.id('variant.select')).toBeVisible();
  }

  async setNumber(testId: string, value: number): Promise<void> {
    await this.id(testId).fill(String(value));
  }

  async chooseVariant(id: string): Promise<void> {
    await this.id('variant.select').selectOption(id);
  }

  async run(): Promise<void> {
    await expect(this.id('run.start')).toBeEnabled();
    await this.id('run.start').click();
  }

  /**
   * Starts a run long enough to act on while it is denoising, and returns as soon as its first
   * step shows: 15 in-betweens × 200 steps at the keyframes' own size (Native fit, which stays
   * chosen: for the 512×320 samples a step has five times the work of one letterboxed into the
   * model's frame), some 15 s on two cores, where letterboxed it ended 3 s after its first step.
   */
  async startLongRun(): Promise<void> {
    await this.id('keyframes.fit.native').check();
    await this.setNumber('run.count', 15);
    await this.setNumber('run.steps', 200);
    await this.run();
    await this.waitForText('run.status', /^Step \d+ \/ 200/);
  }

  /**
   * Waits until the first element with `testId` has text matching `pattern`, looking at every
   * frame the page draws: for a state that may not last (expect's polls are up to a second apart).
   */
  async waitForText(testId: string, pattern: RegExp, timeoutMs = 60_000): Promise<void> {
    await this.page.waitForFunction(
      ([id, source, flags]) =>
        new RegExp(source!, flags).test(
          document.querySelector(`[data-testid="${id}"]`)?.textContent ?? '',
        ),
      [testId, pattern.source, pattern.flags],
      { polling: 'raf', timeout: timeoutMs },
    );
  }

  /**
   * Starts a sweep of the test pack's LoRA variant alone (Baseline and fp16 unchecked) over
   * `scales` × `steps` (as typed in the sweep panel), `count` in-betweens a run.
   */
  async startLoraSweep(count: number, scales: string, steps: string): Promise<void> {
    await this.setNumber('run.count', count);
    await this.id('sweep.panel').locator('summary').click();
    await this.id('sweep.variant.baseline').uncheck();
    await this.id('sweep.variant.fp16').uncheck();
    await this.id('sweep.scales').fill(scales);
    await this.id('sweep.steps').fill(steps);
    await this.id('sweep.start').click();
  }

  /** Waits for the run to finish (within `timeoutMs`) with `frames` in-betweens on screen. */
  async expectDone(frames: number, timeoutMs = 60_000): Promise<void> {
    await expect(this.id('run.status')).toHaveText(/^Done:/, { timeout: timeoutMs });
    await expect(this.id('viewer.frame')).toHaveCount(frames);
  }

  /** The in-betweens on screen, each as "width×height" of its decoded image. */
  frameSizes(): Promise<string[]> {
    return this.id('viewer.frame').evaluateAll((imgs) =>
      (imgs as HTMLImageElement[]).map((img) => `${img.naturalWidth}×${img.naturalHeight}`),
    );
  }

  /** The in-betweens on screen as decoded PNGs (their bytes fetched from the page's blob URLs). */
  async shownFrames(): Promise<PNG[]> {
    const bytes = await this.id('viewer.frame').evaluateAll(async (imgs) =>
      Promise.all(
        (imgs as HTMLImageElement[]).map(async (img) => [
          ...new Uint8Array(await (await fetch(img.src)).arrayBuffer()),
        ]),
      ),
    );
    return bytes.map((b) => PNG.sync.read(Buffer.from(b)));
  }

  errors(): Locator {
    return this.id('message.error');
  }

  /** Saves an export (`viewer` or `scene` controls) in `format`: the downloaded file's name and bytes. */
  async saveExport(prefix: string, format: string): Promise<{ name: string; bytes: Buffer }> {
    await this.id(`${prefix}.exportFormat`).selectOption(format);
    const [download] = await Promise.all([
      this.page.waitForEvent('download'),
      this.id(`${prefix}.exportRun`).click(),
    ]);
    return { name: download.suggestedFilename(), bytes: readFileSync((await download.path())!) };
  }

  /**
   * A video file as Chromium plays it: its duration and size, and how many pixels of its first
   * frame (decoded at 0.05 s) are transparent (alpha below ½); it must also start playing.
   */
  playVideo(bytes: Buffer, type: string) {
    return this.page.evaluate(
      async ([b64, mime]) => {
        const data = Uint8Array.from(atob(b64!), (c) => c.charCodeAt(0));
        const video = document.createElement('video');
        video.muted = true;
        video.src = URL.createObjectURL(new Blob([data], { type: mime! }));
        await new Promise<void>((resolve, reject) => {
          video.onloadeddata = () => resolve();
          video.onerror = () => reject(new Error(`video error ${video.error?.code}`));
        });
        // WebM from a recorder may report Infinity until seeked to the end.
        if (!Number.isFinite(video.duration)) {
          video.currentTime = 1e6;
          await new Promise((r) => (video.ontimeupdate = r));
        }
        video.currentTime = 0.05;
        await new Promise((r) => (video.onseeked = r));
        const canvas = document.createElement('canvas');
        canvas.width = video.videoWidth;
        canvas.height = video.videoHeight;
        const ctx = canvas.getContext('2d')!;
        ctx.drawImage(video, 0, 0);
        const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
        let clear = 0;
        for (let i = 3; i < px.length; i += 4) if (px[i]! < 128) clear++;
        await video.play();
        return {
          duration: video.duration,
          width: video.videoWidth,
          height: video.videoHeight,
          clear,
        };
      },
      [bytes.toString('base64'), type],
    );
  }
}

export const test = base.extend<{ studio: Studio }>({
  studio: async ({ page }, use) => {
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await use(new Studio(page));
    // The page never dies silently: no uncaught exception in any test.
    expect(pageErrors, 'uncaught page errors').toEqual([]);
  },
});

export { expect };
