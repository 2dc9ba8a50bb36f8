import { describe, expect, it } from 'vitest';
import { describeFetchFailure } from './fetchFailure';

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
