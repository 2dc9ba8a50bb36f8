import { cacheKeys, expect, test } from './studio';

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
});
