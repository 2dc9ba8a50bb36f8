/**
 * The two keyframe slots: drop, paste or pick an image into each (or two at once anywhere on the
 * panel), load the bundled sample pair, and choose how frames of another shape are fitted to the
 * model (letterbox, centre-crop or native size), with a preview of what the model sees.
 */
import { useEffect, useRef, useState, type DragEvent } from 'react';
import { useStudio } from '../state/store';
import type { Slot } from './keyframesSlice';
import { addKeyframeFiles, clearKeyframe, loadSamplePair, swapKeyframes } from './keyframeActions';
import { FIT_CHOICES, planFit, type FitChoice, type FitMode, type FitPlan } from '../../core/image';
import { modelFrameSize, resolveFit } from '../../core/pipeline';

function imageFiles(list: FileList | null | undefined): File[] {
  return list ? [...list] : [];
}

function SlotView({ slot }: { slot: Slot }) {
  const info = useStudio((s) => s.keyframes[slot]);
  const input = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    e.stopPropagation();
    setOver(false);
    const files = imageFiles(e.dataTransfer.files);
    // Two files dropped on one slot fill both slots.
    void addKeyframeFiles(files, files.length > 1 ? undefined : slot);
  };
  return (
    <div
      className={`slot${over ? ' slot-over' : ''}`}
      data-testid={`keyframes.${slot}`}
      onDragOver={(e) => {
        e.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={onDrop}
    >
      <div className="slot-title">{slot === 'start' ? 'Start keyframe' : 'End keyframe'}</div>
      {info ? (
        <>
          <img src={info.url} alt={`${slot} keyframe ${info.name}`} className="slot-img" />
          <div className="slot-meta" data-testid={`keyframes.${slot}.meta`}>
            {info.name} · {info.width}×{info.height}
          </div>
          <div className="slot-actions">
            <button type="button" onClick={() => input.current?.click()}>
              Replace
            </button>
            <button type="button" onClick={() => clearKeyframe(slot)}>
              Remove
            </button>
          </div>
        </>
      ) : (
        <button type="button" className="slot-empty" onClick={() => input.current?.click()}>
          Drop an image here, paste, or click to choose
        </button>
      )}
      <input
        ref={input}
        type="file"
        accept="image/*"
        hidden
        data-testid={`keyframes.${slot}.input`}
        onChange={(e) => {
          void addKeyframeFiles(imageFiles(e.target.files), slot);
          e.target.value = '';
        }}
      />
    </div>
  );
}

const FIT_LABELS: Record<FitChoice, string> = {
  auto: 'Auto (own size when it fits, else letterbox)',
  letterbox: 'Letterbox (keep everything)',
  crop: 'Centre-crop (fill the frame)',
  native: 'Native size (own pixels, padded)',
};

function FitPreview() {
  const start = useStudio((s) => s.keyframes.start);
  const manifest = useStudio((s) => s.packs.manifest);
  const fitMode = useStudio((s) => s.keyframes.fitMode);
  if (!start || !manifest) return null;
  let size: [number, number];
  let plan: FitPlan;
  let mode: FitMode;
  try {
    mode = resolveFit(manifest, start.width, start.height, fitMode);
    size = modelFrameSize(manifest, start.width, start.height, mode);
    plan = planFit(start.width, start.height, size[0], size[1], mode);
  } catch (e) {
    return (
      <div className="fit-preview" data-testid="keyframes.fit-preview">
        <p className="hint warn" data-testid="keyframes.fit-warning">
          {(e as Error).message}
        </p>
      </div>
    );
  }
  const [w, h] = size;
  const same = start.width * h === start.height * w;
  const boxW = 160;
  const k = boxW / w;
  return (
    <div className="fit-preview" data-testid="keyframes.fit-preview">
      <div className="fit-frame" style={{ width: w * k, height: h * k }}>
        <img
          src={start.url}
          alt="How the model sees the start keyframe"
          style={{
            position: 'absolute',
            left: plan.offsetX * k,
            top: plan.offsetY * k,
            width: plan.scaledWidth * k,
            height: plan.scaledHeight * k,
          }}
        />
      </div>
      <p className="hint">
        {fitMode === 'auto' ? 'Auto: ' : ''}
        {mode === 'native'
          ? w === start.width && h === start.height
            ? `Run at ${w}×${h}, the keyframes' own size: nothing is resampled.`
            : `Run at ${w}×${h}: the keyframes keep their ${start.width}×${start.height} pixels, padded with their edge colours to a multiple of ${manifest.image.multipleOf}; nothing is resampled.`
          : same
            ? `Same shape as the model's ${w}×${h} frame: scaled, nothing added or cut.`
            : mode === 'letterbox'
              ? `Letterboxed into the model's ${w}×${h} frame; results are cropped back to ${start.width}×${start.height}.`
              : `Centre-cropped to the model's ${w}×${h} frame; the cut-off edges come from the start keyframe.`}
      </p>
    </div>
  );
}

/** The keyframes panel. */
export function KeyframePanel() {
  const fitMode = useStudio((s) => s.keyframes.fitMode);
  const both = useStudio((s) => Boolean(s.keyframes.start && s.keyframes.end));
  useEffect(() => {
    const onPaste = (e: ClipboardEvent) => {
      const files = imageFiles(e.clipboardData?.files);
      if (files.length) void addKeyframeFiles(files);
    };
    window.addEventListener('paste', onPaste);
    return () => window.removeEventListener('paste', onPaste);
  }, []);
  return (
    <section
      className="panel"
      aria-labelledby="kf-title"
      data-testid="keyframes.panel"
      onDragOver={(e) => e.preventDefault()}
      onDrop={(e) => {
        // Outside the slots: the files fill the empty slots (two fill both), as a paste does.
        e.preventDefault();
        void addKeyframeFiles(imageFiles(e.dataTransfer.files));
      }}
    >
      <h2 id="kf-title">Keyframes</h2>
      <div className="slots">
        <SlotView slot="start" />
        <SlotView slot="end" />
      </div>
      <div className="row">
        <button type="button" data-testid="keyframes.sample" onClick={() => void loadSamplePair()}>
          Use sample pair
        </button>
        <button type="button" onClick={swapKeyframes} disabled={!both}>
          Swap
        </button>
      </div>
      <fieldset className="fit">
        <legend>Fit to the model's frame</legend>
        {FIT_CHOICES.map((m) => (
          <label key={m}>
            <input
              type="radio"
              name="fit"
              value={m}
              data-testid={`keyframes.fit.${m}`}
              checked={fitMode === m}
              onChange={() =>
                useStudio.setState((s) => ({ keyframes: { ...s.keyframes, fitMode: m } }))
              }
            />
            {FIT_LABELS[m]}
          </label>
        ))}
      </fieldset>
      <FitPreview />
    </section>
  );
}
