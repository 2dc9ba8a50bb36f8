import { describe, expect, it } from 'vitest';
import { PNG } from 'pngjs';
import { bigWhitePng } from '../testing/bigPng';
import { checkImageFile, checkPixelBudget, MAX_IMAGE_PIXELS, readImageHeader } from './imageHeader';

const bytes = (...parts: (number[] | string)[]) =>
  Uint8Array.from(
    parts.flatMap((p) => (typeof p === 'string' ? [...p].map((c) => c.charCodeAt(0)) : p)),
  );
const le16 = (n: number) => [n & 0xff, n >> 8];
const le32 = (n: number) => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff];

describe('readImageHeader', () => {
  it('reads a PNG written by pngjs', () => {
    const png = PNG.sync.write(new PNG({ width: 321, height: 123 }));
    expect(readImageHeader(png)).toEqual({ format: 'png', width: 321, height: 123 });
  });

  it('reads a huge PNG from its first 24 bytes', () => {
    const png = bigWhitePng(30000, 30000);
    expect(png.length).toBeLessThan(200_000);
    expect(readImageHeader(png.subarray(0, 24))).toEqual({
      format: 'png',
      width: 30000,
      height: 30000,
    });
  });

  it('walks JPEG segments to the frame header', () => {
    const app0 = [0xff, 0xe0, 0, 16, ...Array<number>(14).fill(0)];
    const sof2 = [0xff, 0xc2, 0, 17, 8, 0x01, 0x40, 0x02, 0x00, 3];
    const jpeg = bytes([0xff, 0xd8], app0, [0xff, 0xc4, 0, 4, 0, 0], sof2);
    expect(readImageHeader(jpeg)).toEqual({ format: 'jpeg', width: 512, height: 320 });
    // Cut before the frame header: the size is unknown, the format is not.
    expect(readImageHeader(jpeg.subarray(0, 20))).toEqual({
      format: 'jpeg',
      width: null,
      height: null,
    });
  });

  it('reads GIF, BMP and the three WebP kinds', () => {
    expect(readImageHeader(bytes('GIF89a', le16(640), le16(480)))).toMatchObject({
      width: 640,
      height: 480,
    });
    const bmp = bytes('BM', Array<number>(16).fill(0), le32(100), le32(-50 >>> 0));
    expect(readImageHeader(bmp)).toEqual({ format: 'bmp', width: 100, height: 50 });
    const riff = (chunk: string, body: number[]) => bytes('RIFF', le32(0), 'WEBP', chunk, body);
    // VP8X: 24-bit width−1 and height−1 at bytes 24 and 27.
    const vp8x = riff('VP8X', [...le32(10), 0, 0, 0, 0, ...[0xff, 0x0f, 0], ...[0x3f, 0x01, 0]]);
    expect(readImageHeader(vp8x)).toMatchObject({ format: 'webp', width: 4096, height: 320 });
    // VP8 (lossy): 14-bit sizes at bytes 26 and 28.
    const vp8 = riff('VP8 ', [...le32(10), 0, 0, 0, 0x9d, 0x01, 0x2a, ...le16(512), ...le16(320)]);
    expect(readImageHeader(vp8)).toMatchObject({ format: 'webp', width: 512, height: 320 });
    // VP8L (lossless): 14-bit width−1 and height−1 packed after the 0x2f signature byte.
    const bits = 511 | (319 << 14);
    const vp8l = riff('VP8L', [...le32(10), 0x2f, ...le32(bits)]);
    expect(readImageHeader(vp8l)).toMatchObject({ format: 'webp', width: 512, height: 320 });
  });

  it('knows an SVG drawing, and nothing else', () => {
    expect(readImageHeader(bytes('<?xml version="1.0"?>\n<svg xmlns="x"></svg>'))).toEqual({
      format: 'svg',
      width: null,
      height: null,
    });
    expect(readImageHeader(bytes('hello'))).toBeNull();
    expect(readImageHeader(bytes('<html><body>404</body></html>'))).toBeNull();
  });
});

describe('the pixel budget', () => {
  it('takes 4K frames and refuses more than the budget with what to do', () => {
    expect(() => checkPixelBudget(3840, 2160, 'a')).not.toThrow();
    expect(() => checkPixelBudget(4096, 4096, 'a')).not.toThrow();
    expect(4096 * 4097).toBeGreaterThan(MAX_IMAGE_PIXELS);
    expect(() => checkPixelBudget(12000, 12000, '"big.png"')).toThrow(
      /"big\.png" is 12000×12000 pixels \(144\.0 megapixels\); images may have at most 16\.8 megapixels and 16384 pixels a side\. Save it smaller \(at most 4096×4096 for this shape/,
    );
  });

  it('refuses a long strip by its side even under the pixel count', () => {
    expect(() => checkPixelBudget(20000, 100, '"strip.png"')).toThrow(
      /20000×100 pixels .*at most 16384×81 for this shape/,
    );
  });

  it('checkImageFile refuses empty files, SVGs and bombs before decoding', () => {
    expect(() => checkImageFile(new Uint8Array(0), '"e.png"')).toThrow(/"e\.png" is empty/);
    expect(() => checkImageFile(bytes('<svg></svg>'), '"d.svg"')).toThrow(
      /"d\.svg" is an SVG drawing; .* Export it as PNG/,
    );
    expect(() => checkImageFile(bigWhitePng(30000, 30000), 'bomb.png')).toThrow(
      /bomb\.png is 30000×30000 pixels/,
    );
    expect(checkImageFile(bytes('hello'), 'x')).toBeNull();
  });
});
