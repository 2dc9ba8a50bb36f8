/** A big looping player: keyframes and in-betweens, back and forth, with its label and time. */
import { useEffect, useState } from 'react';
import type { KioskPanel } from './kioskSlice';

const FPS = 6;

/** Ping-pong order over n frames: 0 1 … n−1 n−2 … 1. */
function pingPong(n: number): number[] {
  if (n <= 1) return [0];
  return [
    ...Array.from({ length: n }, (_, i) => i),
    ...Array.from({ length: n - 2 }, (_, i) => n - 2 - i),
  ];
}

export function KioskPlayer({ panel }: { panel: KioskPanel }) {
  const [tick, setTick] = useState(0);
  const order = pingPong(panel.frames.length);
  useEffect(() => {
    const id = setInterval(() => setTick((t) => t + 1), 1000 / FPS);
    return () => clearInterval(id);
  }, []);
  const index = order[tick % order.length] ?? 0;
  const last = panel.frames.length - 1;
  return (
    <figure className="kiosk-player" data-testid="kiosk.player" data-panel={panel.key}>
      <div className="kiosk-frame">
        <img src={panel.frames[index]} alt={`${panel.label}, frame ${index + 1} of ${last + 1}`} />
        <span className="kiosk-frame-tag">
          {index === 0 ? 'start key' : index === last ? 'end key' : `in-between ${index}`}
        </span>
      </div>
      <figcaption>
        <strong data-testid="kiosk.player.label">{panel.label}</strong>
        <span className="kiosk-time" data-testid="kiosk.player.time">
          {panel.detail}
        </span>
        {panel.note && <span className="kiosk-note">{panel.note}</span>}
      </figcaption>
    </figure>
  );
}
