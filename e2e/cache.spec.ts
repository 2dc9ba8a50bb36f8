import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { startPackServer } from './servers';
import { cacheKeys, expect, ROOT, test, type Studio } from './studio';

/** The tiny pack under another id, so that it is not the bundled one (to serve from a web folder). */
function tinyUnderAnotherId(id: string, name: string) {
  const tiny = resolve(ROOT, 'models/tiny');
  const manifest = {
    ...JSON.parse(readFileSync(resolve(tiny, 'manifest.json'), 'utf8')),
    id,
    name,
  };
  return { tiny, manifest };
}

/** The sample pair's true middle frame, as a ground truth. */
function sampleMiddle() {
  return {
    name: 'bounce-middle.png',
    mimeType: 'image/png',
    buffer: readFileSync(resolve(ROOT, 'public/samples/bounce-middle.png')),
  };
}

/** Chooses the cached copy of a pack remembered under `name`. */
async function chooseCachedPack(studio: Studio, name: string): Promise<void> {
  const cached = studio.id('pack.select').locator('option', { hasText: name });
  await studio.id('pack.select').selectOption((await cached.getAttribute('value'))!);
}

test.describe('the model cache under pressure', () => {
  test('an evicted file is noticed, downloaded again, and the run works', async ({
    studio,
    page,
  }) => {
    await studio.open();
    await studio.dropKeyframes();
    await studio.setNumber('run.steps', 2);
    await studio.run();
    await studio.expectDone(3);
    // Simulate the browser evicting part of the cache: delete every chunk of one file.
    const keys = await cacheKeys(page);
    const chunk = keys.find((k) => k.startsWith('chunk:tiny-random:'))!;
    const deleted = chunk.slice(0, chunk.lastIndexOf(':'));
    await page.evaluate(
      async (doomed) => {
        const db = await new Promise<IDBDatabase>((res, rej) => {
          const r = indexedDB.open('inbetween-cache-v1');
          r.onsuccess = () => res(r.result);
          r.onerror = () => rej(r.error);
        });
        await new Promise<void>((res, rej) => {
          const tx = db.transaction('files', 'readwrite');
          for (const k of doomed) tx.objectStore('files').delete(k);
          tx.oncomplete = () => res();
          tx.onerror = () => rej(tx.error);
        });
        db.close();
      },
      keys.filter((k) => k.startsWith(deleted + ':')),
    );
    expect(deleted).toMatch(/^chunk:/);
    const downloads: string[] = [];
    page.on('request', (r) => {
      if (r.url().endsWith('.onnx')) downloads.push(r.url());
    });
    await page.reload();
    await studio.dropKeyframes();
    await studio.setNumber('run.steps', 2);
    await studio.run();
    await studio.expectDone(3);
    await expect(page.locator('[data-testid="message.warning"][data-scope="cache"]')).toContainText(
      "had been removed from the browser's cache",
    );
    expect(downloads).toHaveLength(1);
  });

  test('when storage is full the model still runs, uncached, and the page says so', async ({
    studio,
    page,
    baseURL,
  }) => {
    const cdp = await page.context().newCDPSession(page);
    await studio.open();
    await cdp.send('Storage.overrideQuotaForOrigin', {
      origin: new URL(baseURL!).origin,
      quotaSize: 1024,
    });
    await studio.dropKeyframes();
    await studio.setNumber('run.steps', 2);
    await studio.run();
    await studio.expectDone(3);
    await expect(page.locator('[data-testid="message.warning"][data-scope="cache"]')).toContainText(
      'Browser storage is full',
    );
    // The run history is refused too, and says so.
    await expect(
      page.locator('[data-testid="message.warning"][data-scope="history"]'),
    ).toContainText('could not be saved in the history: browser storage is full');
    await studio.id('cache.panel').locator('summary').click();
    await expect(studio.id('cache.row')).toHaveCount(0);
    await cdp.send('Storage.overrideQuotaForOrigin', { origin: new URL(baseURL!).origin });
  });

  test("a run's scores that cannot be stored in the history say so", async ({ studio, page }) => {
    await studio.open();
    await studio.dropKeyframes();
    await studio.setNumber('run.count', 1);
    await studio.setNumber('run.steps', 2);
    await studio.run();
    await studio.expectDone(1);
    await studio.id('history.panel').locator('summary').click();
    await expect(studio.id('history.row')).toHaveCount(1);
    // The disk fills up after the run was saved: the page's IndexedDB writes are refused as a full
    // disk refuses them (Chromium's quota override lets a same-size rewrite through).
    await page.evaluate(() => {
      IDBObjectStore.prototype.put = () => {
        throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
      };
    });
    await studio.id('evaluate.gt.input').setInputFiles([sampleMiddle()]);
    await expect(studio.id('evaluate.row')).toHaveCount(1);
    await expect(
      page.locator('[data-testid="message.warning"][data-scope="history"]'),
    ).toContainText(
      "Saving a run's scores in the history failed: the browser's storage for this page is full",
    );
    await expect(studio.errors()).toHaveCount(0);
  });

  test('a pack reopened from the cache fetches a variant never run here from where it came from', async ({
    studio,
    page,
  }) => {
    const { tiny, manifest } = tinyUnderAnotherId('tiny-elsewhere', 'Tiny, elsewhere');
    const lora: string = manifest.graphs.denoisers.lora.file;
    const server = await startPackServer({ dir: tiny, manifest });
    try {
      await studio.open();
      await studio.loadPackUrl(server.url);
      const variants = studio.id('variant.select').locator('option');
      await expect(variants).toHaveText(
        ['baseline', 'lora', 'fp16'].map((v) => new RegExp(v, 'i')),
      );
      await studio.chooseVariant('baseline');
      await studio.dropKeyframes();
      await studio.setNumber('run.steps', 2);
      await studio.run();
      await studio.expectDone(3);
      expect(server.requests.filter((r) => r.endsWith(lora))).toEqual([]);
      // After a reload the pack is offered from the cache; its LoRA variant was never downloaded.
      await page.reload();
      await chooseCachedPack(studio, 'Tiny, elsewhere');
      await expect(variants).toHaveCount(3);
      await studio.chooseVariant('lora');
      await studio.dropKeyframes();
      await studio.setNumber('run.steps', 2);
      await studio.run();
      await studio.expectDone(3);
      expect(server.requests.filter((r) => r.endsWith(lora))).toHaveLength(1);
    } finally {
      await server.close();
    }
  });
  test('a bundled pack whose server cannot be reached opens from its copy in the cache', async ({
    studio,
    page,
  }) => {
    await studio.open();
    await studio.dropKeyframes();
    await studio.setNumber('run.steps', 2);
    await studio.run();
    await studio.expectDone(3);
    // The server stops answering for the pack's folder (as offline, for a pack the service worker
    // does not hold): its manifest and files cannot be fetched.
    const asked: string[] = [];
    await page.route('**/models/tiny/**', (route) => {
      asked.push(route.request().url());
      return route.abort('internetdisconnected');
    });
    await page.reload();
    await expect(studio.id('variant.select')).toBeVisible();
    await expect(page.locator('[data-testid="message.warning"][data-scope="pack"]')).toContainText(
      'Opened the copy of Tiny random pack (untrained) stored in this browser instead',
    );
    await studio.dropKeyframes();
    await studio.setNumber('run.steps', 2);
    await studio.run();
    await studio.expectDone(3);
    await expect(studio.errors()).toHaveCount(0);
    // The manifest was asked for, the graphs came from the cache.
    expect(asked.some((u) => u.endsWith('/manifest.json'))).toBe(true);
    expect(asked.filter((u) => u.endsWith('.onnx'))).toEqual([]);
  });
  test('a manifest edited over cached files is what the cache gives back', async ({
    studio,
    page,
  }) => {
    const { tiny, manifest } = tinyUnderAnotherId('tiny-edited', 'Tiny, edited');
    const first = await startPackServer({ dir: tiny, manifest });
    try {
      await studio.open();
      await studio.loadPackUrl(first.url);
      await studio.dropKeyframes();
      await studio.setNumber('run.steps', 2);
      await studio.run();
      await studio.expectDone(3);
    } finally {
      await first.close();
    }
    // The same files, one more variant in the manifest: nothing to download, yet it is remembered.
    const lora = manifest.variants.find((v: { id: string }) => v.id === 'lora');
    const edited = {
      ...manifest,
      variants: [...manifest.variants, { ...lora, id: 'lora-again', label: 'LoRA again' }],
    };
    const second = await startPackServer({ dir: tiny, manifest: edited });
    try {
      await studio.loadPackUrl(second.url);
      const variants = studio.id('variant.select').locator('option');
      await expect(variants).toHaveCount(4);
      await studio.run();
      await studio.expectDone(3);
      expect(second.requests.filter((r) => r.endsWith('.onnx'))).toEqual([]);
    } finally {
      await second.close();
    }
    await page.reload();
    await chooseCachedPack(studio, 'Tiny, edited');
    await expect(studio.id('variant.select').locator('option')).toHaveCount(4);
  });

  test('the cache cannot be cleared under a job that may be downloading into it', async ({
    studio,
  }) => {
    await studio.open();
    await studio.dropKeyframes();
    await studio.startLongRun();
    await studio.id('cache.panel').locator('summary').click();
    await expect(studio.id('cache.clear')).toBeDisabled();
    await expect(studio.id('cache.busy')).toBeVisible();
    await studio.id('run.cancel').click();
    await expect(studio.id('run.status')).toHaveText('Cancelled.', { timeout: 30_000 });
    await expect(studio.id('cache.clear')).toBeEnabled();
  });

  test('pieces of a download that never finished are shown and can be removed', async ({
    studio,
    page,
  }) => {
    await studio.open();
    await studio.dropKeyframes();
    await studio.setNumber('run.steps', 2);
    await studio.run();
    await studio.expectDone(3);
    // A tab closed mid-download leaves chunks whose file was never committed.
    await page.evaluate(async () => {
      const db = await new Promise<IDBDatabase>((res, rej) => {
        const r = indexedDB.open('inbetween-cache-v1');
        r.onsuccess = () => res(r.result);
        r.onerror = () => rej(r.error);
      });
      const tx = db.transaction('files', 'readwrite');
      for (const i of [0, 1])
        tx.objectStore('files').put(new ArrayBuffer(1024), `chunk:ghost:abc123:${i}`);
      await new Promise((res) => (tx.oncomplete = res));
      db.close();
    });
    await studio.id('cache.panel').locator('summary').click();
    await expect(studio.id('cache.unfinished')).toContainText(
      'Pieces of 1 download that never finished (2 chunks',
    );
    const rows = await studio.id('cache.row').count();
    expect(rows).toBeGreaterThan(0);
    await studio.id('cache.unfinished.clear').click();
    await expect(studio.id('cache.unfinished')).toHaveCount(0);
    expect((await cacheKeys(page)).filter((k) => k.includes('ghost'))).toEqual([]);
    // What finished stays.
    await expect(studio.id('cache.row')).toHaveCount(rows);
  });
});
