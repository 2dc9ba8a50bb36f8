/**
 * A number input that keeps what the person is typing: an empty field or a partial number ("-",
 * "1e") is shown as typed and changes nothing; a number is committed, clamped to [min, max] (and
 * rounded when `integer`), as it is typed; on leaving the field it shows the committed value again.
 * (A plain controlled input turned an emptied field into its minimum at once: Backspace on "8"
 * gave 1, and typing 4 then read 14.)
 */
import { useState, type InputHTMLAttributes } from 'react';

export function NumberField({
  value,
  min,
  max,
  integer,
  onCommit,
  ...rest
}: {
  value: number;
  min: number;
  max: number;
  integer: boolean;
  onCommit: (value: number) => void;
} & Omit<InputHTMLAttributes<HTMLInputElement>, 'value' | 'min' | 'max' | 'onChange' | 'type'>) {
  const [draft, setDraft] = useState<string | null>(null);
  return (
    <input
      {...rest}
      type="number"
      min={min}
      max={max}
      step={integer ? 1 : 'any'}
      value={draft ?? String(value)}
      onChange={(e) => {
        const text = e.target.value;
        setDraft(text);
        const raw = text.trim() === '' ? NaN : Number(text);
        if (!Number.isFinite(raw)) return;
        const n = Math.min(max, Math.max(min, integer ? Math.round(raw) : raw));
        if (n !== value) onCommit(n);
      }}
      onBlur={(e) => {
        setDraft(null);
        rest.onBlur?.(e);
      }}
    />
  );
}
