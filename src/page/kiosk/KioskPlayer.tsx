/**
 * A big looping player: keyframes and in-betweens, back and forth, with its label and time.
 * Frames are decoded once into ImageBitmaps and drawn on a canvas; the bitmaps are closed as soon as
 * the panel changes. (An <img> per frame would leave every run's decoded frames in Chromium's image
 * cache until it is trimmed — hundreds of MB over an afternoon of runs.)
 */
import { useEffect, useRef, useState } from 'react';
import { playOrder } from '../../core/sequence/sequence';
import type { KioskPanel } from './kioskSlice';

const FPS = 6;

async function decode(url: string): Promise<ImageBitmap> {
  const blob = await (await fetch(url)).blob();
  return createImageBitmap(blob);
}

export function KioskPlayer({ panel }: { panel: KioskPanel }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [bitmaps, setBitmaps] = useState<ImageBitmap[]>([]);
  const [tick, setTick] = useState(0);
  const framesKey = panel.frames.join('|');
  useEffect(() => {
    let live = true;
    let decoded: ImageBitmap[] = [];
    void Promise.all(panel.frames.map(decode))
      .then((bmps) => {
        decoded = bmps;
        if (live) setBitmaps(bmps);
        else bmps.forEach((b) => b.close());
      })
      .catch(() => undefined); // a frame that cannot be read leaves the player empty, never broken
    return () => {
      live = false;
      setBitmaps([]);
      decoded.forEach((b) => b.close());
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps -- the frames' URLs are the key
  }, [framesKey]);
  useEffect(() => {
    const id = setInterval(() => setTick((t) => t + 1), 1000 / FPS);
    return () => clearInterval(id);
  }, []);
  const order = playOrder(bitmaps.length, 'pingpong');
  const index = order[tick % order.length] ?? 0;
  useEffect(() => {
    const c = canvas.current;
    const bmp = bitmaps[index];
    // A closed bitmap (its panel just changed) has no size: nothing to draw until the new ones.
    if (!c || !bmp || bmp.width === 0) return;
    if (c.width !== bmp.width || c.height !== bmp.height) {
      c.width = bmp.width;
      c.height = bmp.height;
    }
    const ctx = c.getContext('2d');
    ctx?.clearRect(0, 0, c.width, c.height);
    ctx?.drawImage(bmp, 0, 0);
  }, [bitmaps, index]);
  const last = panel.frames.length - 1;
  return (
    <figure className="kiosk-player" data-testid="kiosk.player" data-panel={panel.key}>
      <div className="kiosk-frame">
        <canvas
          ref={canvas}
          role="img"
          aria-label={`${panel.label}, frame ${index + 1} of ${last + 1}`}
          data-frames={bitmaps.length}
        />
      </div>
      <figcaption>
        <span className="kiosk-frame-tag">
          {index === 0 ? 'start key' : index === last ? 'end key' : `in-between ${index}`}
        </span>
        <strong data-testid="kiosk.player.label">{panel.label}</strong>
        <span className="kiosk-time" data-testid="kiosk.player.time">
          {panel.detail}
        </span>
        {panel.note && <span className="kiosk-note">{panel.note}</span>}
      </figcaption>
    </figure>
  );
}
