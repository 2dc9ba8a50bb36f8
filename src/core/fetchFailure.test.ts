import { describe, expect, it } from 'vitest';
import { describeFetchFailure, withinTime } from './fetchFailure';

describe('describeFetchFailure', () => {
  const failed = new TypeError('Failed to fetch');
  it('names CORS and the server for another site', () => {
    const m = describeFetchFailure(
      'http://example.org/pack/manifest.json',
      failed,
      'http://127.0.0.1:4173',
    );
    expect(m).toContain('example.org');
    expect(m).toContain('Access-Control-Allow-Origin');
    expect(m).toContain('Failed to fetch');
  });
  it("points at the studio's own server for its own URLs", () => {
    const m = describeFetchFailure(
      'http://127.0.0.1:4173/models/x.onnx',
      failed,
      'http://127.0.0.1:4173',
    );
    expect(m).toContain("the studio's own server did not answer for /models/x.onnx");
    expect(m).not.toContain('Access-Control');
  });
  it('says when the URL is not one', () => {
    expect(describeFetchFailure('not a url', failed, undefined)).toContain('is not a URL');
  });
});

describe('withinTime', () => {
  it("gives up after the deadline with the caller's error, and passes other failures on", async () => {
    const hang = (signal: AbortSignal) =>
      new Promise<never>((_, reject) =>
        signal.addEventListener('abort', () => reject(signal.reason)),
      );
    await expect(withinTime(20, hang, () => new Error('no answer within 0.02 s'))).rejects.toThrow(
      'no answer within 0.02 s',
    );
    await expect(
      withinTime(
        1000,
        () => Promise.reject(new Error('404')),
        () => new Error('timed out'),
      ),
    ).rejects.toThrow('404');
    await expect(
      withinTime(
        1000,
        async () => 'text',
        () => new Error('timed out'),
      ),
    ).resolves.toBe('text');
  });
});
