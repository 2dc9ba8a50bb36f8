/**
 * Pack choice: the bundled packs listed by the server, packs remembered in the IndexedDB cache,
 * and packs a person loads from a URL or a local folder. Manifests are fetched and validated here,
 * on the main thread (they are small); the graphs are fetched by the worker when a run needs them.
 */
import { describeFetchFailure, MANIFEST_TIMEOUT_MS, withinTime } from '../../core/fetchFailure';
import {
  clipLengthOf,
  filesForVariant,
  parseManifest,
  referenceVariant,
  variantSteps,
  type PackManifest,
} from '../../core/manifest';
import { MAX_INBETWEENS } from '../../core/pipeline';
import { samplersFor } from '../../core/samplers';
import type { SettingsState } from '../run/settingsSlice';
import { clearMessages, patch, say, useStudio } from '../state/store';
import type { PackOption } from './packsSlice';
import type { PackSource } from '../../shared/protocol';
import { summariseCache, getCachedPack } from '../../shared/packCache';

interface BundledPackEntry {
  id: string;
  name: string;
  path: string;
  trained: boolean;
}

/** Live sources (they may hold Files), by option key; never put in the store. */
const sources = new Map<string, PackSource>();

/** The source behind a pack option. */
export function packSource(key: string): PackSource | undefined {
  return sources.get(key);
}

function upsertOption(option: PackOption, source: PackSource): void {
  sources.set(option.key, source);
  const options = useStudio.getState().packs.options.filter((o) => o.key !== option.key);
  patch('packs', { options: [...options, option] });
}

/** The clip length of the selected pack when it is `packId` and a clip pack, else null. */
export function selectedClipLength(packId: string): number | null {
  const m = useStudio.getState().packs.manifest;
  return m && m.id === packId ? clipLengthOf(m) : null;
}

/** Lists bundled packs (from /models/index.json) and packs remembered in the cache. */
export async function refreshPackList(): Promise<void> {
  const base = import.meta.env.BASE_URL;
  try {
    const indexUrl = new URL(`${base}models/index.json`, location.href).href;
    const entries = JSON.parse(
      await fetchJsonText(indexUrl, 'the list of bundled packs'),
    ) as BundledPackEntry[];
    for (const e of entries) {
      upsertOption(
        {
          key: `bundled:${e.path}`,
          packId: e.id,
          name: e.name,
          trained: e.trained,
          origin: 'bundled',
          label: 'bundled',
        },
        {
          kind: 'url',
          baseUrl: new URL(`${base}models/${e.path}`, location.href).href,
          label: 'bundled',
        },
      );
    }
  } catch (e) {
    say('error', 'pack', `The bundled model packs could not be listed: ${(e as Error).message}`);
  }
  await refreshCachedOptions();
  const { selectedKey, options } = useStudio.getState().packs;
  if (!selectedKey && options.length > 0) {
    // `?pack=<id>` picks a pack (demo links, kiosks, tests); otherwise prefer a trained bundled
    // pack, then the first one.
    const wanted = new URLSearchParams(location.search).get('pack');
    const first =
      (wanted ? options.find((o) => o.packId === wanted) : undefined) ??
      options.find((o) => o.origin === 'bundled' && o.trained) ??
      options[0]!;
    await selectPack(first.key);
    // After the selection, which clears the pack's earlier messages.
    if (wanted && first.packId !== wanted) {
      say(
        'warning',
        'pack',
        `The link asks for pack "${wanted}", which is not available here (the packs are: ${options.map((o) => o.packId).join(', ')}); using ${first.name}.`,
      );
    }
  }
}

/** Adds an option for each pack remembered in the cache that is not bundled. */
export async function refreshCachedOptions(): Promise<void> {
  try {
    const summary = await summariseCache();
    const bundledIds = new Set(
      useStudio
        .getState()
        .packs.options.filter((o) => o.origin === 'bundled')
        .map((o) => o.packId),
    );
    for (const p of summary.packs) {
      if (bundledIds.has(p.packId) || !p.sourceLabel) continue;
      const cached = await getCachedPack(p.packId);
      if (!cached || cached.kind !== 'pack') continue;
      upsertOption(
        {
          key: `cache:${p.packId}`,
          packId: p.packId,
          name: cached.name,
          trained: cached.trained,
          origin: 'cache',
          label: `cached, from ${cached.sourceLabel}`,
        },
        // A pack first loaded from a web folder: a variant never run here is fetched from there.
        /^https?:\/\//i.test(cached.sourceLabel)
          ? { kind: 'cache', label: cached.sourceLabel, baseUrl: cached.sourceLabel }
          : { kind: 'cache', label: cached.sourceLabel },
      );
    }
  } catch (e) {
    say('warning', 'cache', `The model cache could not be read: ${(e as Error).message}`);
  }
}

/**
 * The largest manifest read (a manifest is a few KB): a bigger file is refused before it is read
 * whole or parsed on the page's thread, which a file of hundreds of MB would freeze.
 */
export const MAX_MANIFEST_BYTES = 1 << 20;

function tooBig(what: string, bytes: number | null): Error {
  return new Error(
    `${what} is ${bytes === null ? 'over 1 MB' : `${(bytes / 1e6).toFixed(1)} MB`}; a manifest is a few KB, so this is not one. Check that it is the pack's manifest.json.`,
  );
}

/** A response's text, refused past MAX_MANIFEST_BYTES whether or not the server said its length. */
async function boundedText(res: Response, what: string): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > MAX_MANIFEST_BYTES) {
    void res.body?.cancel();
    throw tooBig(what, declared);
  }
  if (!res.body) return res.text();
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > MAX_MANIFEST_BYTES) {
      void reader.cancel();
      throw tooBig(what, null);
    }
    parts.push(value);
  }
  const all = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.byteLength;
  }
  return new TextDecoder().decode(all);
}

/**
 * The text of a small JSON file at `url` (a manifest, the pack list), or an Error whose message
 * says what went wrong in words: no answer within `MANIFEST_TIMEOUT_MS`, an unreachable or
 * refusing server (CORS included), an HTTP error, or a web page where JSON was expected (a wrong
 * URL on a server that answers every path with its HTML page).
 */
async function fetchJsonText(url: string, what: string): Promise<string> {
  return withinTime(
    MANIFEST_TIMEOUT_MS,
    async (signal) => {
      let res: Response;
      try {
        res = await fetch(url, { signal });
      } catch (e) {
        throw unreachable(
          new Error(`Could not load ${what} from ${url}: ${describeFetchFailure(url, e)}.`, {
            cause: e,
          }),
        );
      }
      if (!res.ok) {
        throw new Error(
          `Could not load ${what} from ${url}: the server answered ${res.status}${res.status === 404 ? ' (not found — check the URL)' : ''}.`,
        );
      }
      const text = await boundedText(res, `${what} at ${url}`);
      const type = res.headers.get('content-type') ?? '';
      if (type.includes('text/html') || /^\s*</.test(text)) {
        throw new Error(
          `${url} is a web page, not ${what}. Give the URL of the pack's folder (the one that holds manifest.json) or of manifest.json itself.`,
        );
      }
      return text;
    },
    () => timeoutError(url, what),
  );
}

/** An error of a server that did not answer at all (offline, refused, timed out), not of a bad answer. */
function unreachable(e: Error): Error {
  e.name = 'UnreachableError';
  return e;
}

function timeoutError(url: string, what: string): Error {
  return unreachable(
    new Error(
      `${url} did not send ${what} within ${MANIFEST_TIMEOUT_MS / 1000} s: the server is not answering. Check the URL and that the server is up, then choose the pack again.`,
    ),
  );
}

async function readManifestText(source: PackSource, packId: string): Promise<string> {
  if (source.kind === 'url') {
    return fetchJsonText(new URL('manifest.json', source.baseUrl).href, "the pack's manifest.json");
  }
  if (source.kind === 'files') {
    const m = source.files['manifest.json'];
    if (!m) throw new Error('The folder has no manifest.json at its top level.');
    if (m.size > MAX_MANIFEST_BYTES) throw tooBig("The folder's manifest.json", m.size);
    return m.text();
  }
  const cached = await getCachedPack(packId);
  if (!cached) throw new Error('This pack is no longer in the cache.');
  return JSON.stringify(cached.manifest);
}

/** Chooses a pack: reads and validates its manifest and picks a variant. */
export async function selectPack(key: string): Promise<void> {
  const option = useStudio.getState().packs.options.find((o) => o.key === key);
  const source = sources.get(key);
  if (!option || !source) return;
  patch('packs', {
    selectedKey: key,
    manifest: null,
    manifestErrors: [],
    variantId: null,
    reading: `Reading the manifest of ${option.name}…`,
  });
  let text: string;
  /** Said once the manifest is applied: a bundled pack opened from its copy in the cache. */
  let fromCacheNote: string | null = null;
  try {
    text = await readManifestText(source, option.packId);
  } catch (e) {
    const cached =
      option.origin === 'bundled' && (e as Error).name === 'UnreachableError'
        ? await cachedBundledManifest(option.packId)
        : null;
    if (useStudio.getState().packs.selectedKey !== key) return; // a newer choice won
    if (cached === null) {
      patch('packs', { manifestErrors: [(e as Error).message], reading: null });
      say('error', 'pack', (e as Error).message);
      return;
    }
    text = cached;
    fromCacheNote = `${(e as Error).message} Opened the copy of ${option.name} stored in this browser instead: the variants run here before load from it; the others need the server.`;
  }
  if (useStudio.getState().packs.selectedKey !== key) return; // a newer choice won
  patch('packs', { reading: null });
  const result = parseManifest(text);
  if (!result.ok) {
    patch('packs', { manifestErrors: result.errors });
    say(
      'error',
      'pack',
      `The manifest of "${option.name}" is not valid (${result.errors.length} problem${result.errors.length > 1 ? 's' : ''}); see the model panel.`,
    );
    return;
  }
  const clash = await bundledIdClash(option, result.manifest);
  if (useStudio.getState().packs.selectedKey !== key) return;
  if (clash) {
    patch('packs', { manifestErrors: [clash] });
    say('error', 'pack', clash);
    return;
  }
  clearMessages('pack');
  applyManifest(result.manifest);
  if (fromCacheNote) say('warning', 'pack', fromCacheNote);
  if (option.name !== result.manifest.name || option.trained !== result.manifest.trained) {
    upsertOption(
      {
        ...option,
        name: result.manifest.name,
        trained: result.manifest.trained,
        packId: result.manifest.id,
      },
      source,
    );
  }
}

/**
 * The manifest of a bundled pack as stored in the cache when it was last loaded here, or null: a
 * bundled pack the service worker does not hold (any pack but the precached ones) still opens when
 * the server cannot be reached, as packs loaded from a URL do.
 */
async function cachedBundledManifest(packId: string): Promise<string | null> {
  try {
    const cached = await getCachedPack(packId);
    return cached?.kind === 'pack' && cached.sourceLabel === 'bundled'
      ? JSON.stringify(cached.manifest)
      : null;
  } catch {
    return null;
  }
}

/** Every file a manifest names, by sha256. */
function fileShas(m: PackManifest): Set<string> {
  return new Set(m.variants.flatMap((v) => filesForVariant(m, v.id).map((f) => f.sha256)));
}

/**
 * Packs are cached by id, so a pack loaded from a URL or folder must not take the id of a bundled
 * pack with other files: its files would be filed under the bundled pack, and after a reload it
 * would be gone. A byte-identical copy is the same pack and is fine. Returns the message, or null.
 */
async function bundledIdClash(option: PackOption, manifest: PackManifest): Promise<string | null> {
  if (option.origin === 'bundled') return null;
  const bundled = useStudio
    .getState()
    .packs.options.find((o) => o.origin === 'bundled' && o.packId === manifest.id);
  const source = bundled && sources.get(bundled.key);
  if (!bundled || !source) return null;
  const theirs = await readManifestText(source, bundled.packId)
    .then(parseManifest)
    .catch(() => null);
  if (theirs?.ok) {
    const shas = fileShas(theirs.manifest);
    if ([...fileShas(manifest)].every((sha) => shas.has(sha))) return null;
  }
  return `This pack's manifest.json gives it the id "${manifest.id}", which the bundled pack "${bundled.name}" already has, but its files differ. Packs are stored by id, so give yours an id of its own (the "id" field of manifest.json, e.g. "${manifest.id}-mine") and load it again.`;
}

function applyManifest(manifest: PackManifest): void {
  const prev = useStudio.getState().packs.variantId;
  const variant = manifest.variants.find((v) => v.id === prev) ?? referenceVariant(manifest);
  patch('packs', { manifest, manifestErrors: [] });
  chooseVariant(variant.id);
}

/** Chooses a variant and resets the settings it owns (steps, LoRA scale). */
export function chooseVariant(variantId: string): void {
  const manifest = useStudio.getState().packs.manifest;
  const variant = manifest?.variants.find((v) => v.id === variantId);
  if (!manifest || !variant) return;
  patch('packs', { variantId });
  const { settings } = useStudio.getState();
  patch('settings', {
    steps: variantSteps(manifest, variant),
    loraScale: variant.loraScale ? variant.loraScale.default : null,
    ...packControls(manifest, settings),
  });
}

/**
 * The format-2 controls for a pack: kept when still valid for it (choosing another variant of the
 * same pack keeps the guidance scale), else the pack's defaults; the in-between count is clamped to
 * what a clip pack makes.
 */
function packControls(
  manifest: PackManifest,
  s: Pick<
    SettingsState,
    'guidanceScale' | 'scalars' | 'promptId' | 'promptText' | 'count' | 'sampler'
  >,
): Pick<
  SettingsState,
  'guidanceScale' | 'scalars' | 'promptId' | 'promptText' | 'count' | 'sampler'
> {
  const g = manifest.guidance?.scale;
  const scalars: Record<string, number> = {};
  for (const [name, spec] of Object.entries(manifest.scalars ?? {})) {
    const v = s.scalars[name];
    scalars[name] = v !== undefined && v >= spec.min && v <= spec.max ? v : spec.default;
  }
  const prompts = manifest.prompts ?? [];
  const max = manifest.frames.mode === 'clip' ? manifest.frames.clipLength - 2 : MAX_INBETWEENS;
  return {
    guidanceScale: g
      ? s.guidanceScale !== null && s.guidanceScale >= g.min && s.guidanceScale <= g.max
        ? s.guidanceScale
        : g.default
      : null,
    scalars,
    promptId: prompts.some((p) => p.id === s.promptId) ? s.promptId : (prompts[0]?.id ?? null),
    promptText: manifest.text ? s.promptText : '',
    count: Math.min(s.count, max),
    sampler:
      s.sampler !== null && samplersFor(manifest.scheduler).includes(s.sampler) ? s.sampler : null,
  };
}

/** Adds a pack served at a URL (the folder, or its manifest.json) and selects it. */
export async function addPackFromUrl(input: string): Promise<void> {
  let url: URL;
  try {
    url = new URL(input.trim(), location.href);
  } catch {
    say('error', 'pack', `"${input}" is not a URL.`);
    return;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    say('error', 'pack', 'Pack URLs must start with http:// or https://.');
    return;
  }
  let href = url.href.replace(/manifest\.json$/, '');
  if (!href.endsWith('/')) href += '/';
  const key = `url:${href}`;
  upsertOption(
    { key, packId: href, name: href, trained: true, origin: 'url', label: url.host },
    { kind: 'url', baseUrl: href, label: href },
  );
  await selectPack(key);
}

let localCounter = 0;

/**
 * Adds a pack from a local folder (picked with a directory input or dropped). `files` carry their
 * path relative to the chosen folder in `relativePath`; the folder holding manifest.json is the root.
 */
export async function addPackFromFiles(
  files: { file: File; relativePath: string }[],
): Promise<void> {
  const manifests = files
    .filter((f) => f.relativePath.split('/').pop() === 'manifest.json')
    .sort((a, b) => a.relativePath.split('/').length - b.relativePath.split('/').length);
  const top = manifests[0];
  if (!top) {
    say(
      'error',
      'pack',
      'No manifest.json was found in the chosen files. Pick the pack folder, or its manifest.json together with its .onnx files.',
    );
    return;
  }
  const root = top.relativePath.slice(0, top.relativePath.length - 'manifest.json'.length);
  const map: Record<string, Blob> = {};
  for (const f of files) {
    if (f.relativePath.startsWith(root)) map[f.relativePath.slice(root.length)] = f.file;
  }
  const label = `local folder ${root.replace(/\/$/, '') || top.file.name}`;
  const key = `local:${++localCounter}`;
  upsertOption(
    { key, packId: key, name: label, trained: true, origin: 'local', label: 'local folder' },
    { kind: 'files', files: map, label: 'local folder' },
  );
  await selectPack(key);
}

/** Collects files from a drop, walking dropped folders. */
export async function filesFromDrop(
  dt: DataTransfer,
): Promise<{ file: File; relativePath: string }[]> {
  const out: { file: File; relativePath: string }[] = [];
  const entries = [...dt.items]
    .map((i) => (i.kind === 'file' ? i.webkitGetAsEntry?.() : null))
    .filter((e): e is FileSystemEntry => Boolean(e));
  if (entries.length === 0) {
    for (const f of dt.files) out.push({ file: f, relativePath: f.name });
    return out;
  }
  const walk = async (entry: FileSystemEntry, prefix: string): Promise<void> => {
    if (entry.isFile) {
      const file = await new Promise<File>((res, rej) =>
        (entry as FileSystemFileEntry).file(res, rej),
      );
      out.push({ file, relativePath: prefix + entry.name });
    } else if (entry.isDirectory) {
      const reader = (entry as FileSystemDirectoryEntry).createReader();
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((res, rej) =>
          reader.readEntries(res, rej),
        );
        if (batch.length === 0) break;
        for (const child of batch) await walk(child, `${prefix}${entry.name}/`);
      }
    }
  };
  for (const e of entries) await walk(e, '');
  return out;
}
