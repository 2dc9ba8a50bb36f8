/**
 * The latent plot of the booth, large and plain (SVG, no animation library): mean latent std after
 * each denoising step, one curve per run, the running one growing step by step. Runs with different
 * step counts share the x axis as the fraction of denoising done.
 */
import type { KioskTrace } from './kioskSlice';

const W = 520;
const H = 300;
const PAD = { l: 56, r: 16, t: 16, b: 44 };
const COLOURS = ['#e0662f', '#2f7de0', '#2e9d57', '#9b4fd1', '#c9a227'];

export function KioskPlot({ traces }: { traces: KioskTrace[] }) {
  const values = traces.flatMap((t) =>
    t.std.filter((v): v is number => v !== null && Number.isFinite(v)),
  );
  const top = Math.max(1.2, ...values) * 1.05;
  const x = (i: number, n: number) => PAD.l + (n <= 1 ? 0 : (i / (n - 1)) * (W - PAD.l - PAD.r));
  const y = (v: number) => H - PAD.b - (v / top) * (H - PAD.t - PAD.b);
  const ticks = [0, top / 2, top].map((v) => Math.round(v * 10) / 10);
  return (
    <figure className="kiosk-plot" data-testid="kiosk.plot">
      <svg
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label="Latent standard deviation per denoising step"
      >
        <line x1={PAD.l} y1={H - PAD.b} x2={W - PAD.r} y2={H - PAD.b} className="axis" />
        <line x1={PAD.l} y1={PAD.t} x2={PAD.l} y2={H - PAD.b} className="axis" />
        {ticks.map((v) => (
          <text key={v} x={PAD.l - 8} y={y(v) + 5} textAnchor="end" className="tick">
            {v.toFixed(1)}
          </text>
        ))}
        <text x={(W + PAD.l) / 2} y={H - 10} textAnchor="middle" className="tick">
          noise → denoising steps → drawing
        </text>
        {traces.map((t, k) => {
          const pts = t.std
            .map((v, i) =>
              v !== null && Number.isFinite(v) ? `${x(i, t.std.length)},${y(v)}` : '',
            )
            .filter(Boolean);
          const colour = COLOURS[k % COLOURS.length];
          return (
            <g key={t.key} data-testid="kiosk.plot.trace" data-points={pts.length}>
              <polyline
                points={pts.join(' ')}
                fill="none"
                stroke={colour}
                strokeWidth={t.live ? 4 : 3}
              />
              {pts.length > 0 && (
                <circle
                  cx={pts[pts.length - 1]!.split(',')[0]}
                  cy={pts[pts.length - 1]!.split(',')[1]}
                  r={5}
                  fill={colour}
                />
              )}
            </g>
          );
        })}
      </svg>
      <figcaption>
        <strong>Latent std per step</strong>
        <span className="kiosk-legend">
          {traces.map((t, k) => (
            <span key={t.key} style={{ color: COLOURS[k % COLOURS.length] }}>
              ● {t.label}
            </span>
          ))}
        </span>
      </figcaption>
    </figure>
  );
}
