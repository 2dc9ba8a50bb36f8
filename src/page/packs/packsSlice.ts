/** The packs slice: the pack list, the chosen pack, variant and backend, and load progress. */
import type { PackManifest } from '../../core/manifest';
import type { BackendInfo } from '../../shared/protocol';

export interface PackOption {
  /** Unique key for this source of a pack (a pack id may come from several places). */
  key: string;
  packId: string;
  name: string;
  trained: boolean;
  origin: 'bundled' | 'url' | 'local' | 'cache';
  label: string;
}

export interface PacksState {
  options: PackOption[];
  selectedKey: string | null;
  manifest: PackManifest | null;
  manifestErrors: string[];
  variantId: string | null;
  backend: BackendInfo | null;
  /** Set while the chosen pack's manifest is being read: what for people. */
  reading: string | null;
  /** Loading a variant: what is happening, with byte progress for downloads. */
  load: { active: boolean; label: string; loadedBytes: number; totalBytes: number };
}

export const initialPacks: PacksState = {
  options: [],
  selectedKey: null,
  manifest: null,
  manifestErrors: [],
  variantId: null,
  backend: null,
  reading: null,
  load: { active: false, label: '', loadedBytes: 0, totalBytes: 0 },
};
