/**
 * Typed prompts (pack format 2, `text`): the pack's tokenizer.json read by Hugging Face's
 * tokenizers.js (pure JavaScript, offline; the file is data — its vocabulary, merges, normaliser
 * and template — and nothing in it runs as code), then padded or cut to the context length as
 * OpenCLIP's `tokenize` does: start token, the text's tokens, end token; a sequence too long is cut
 * to `contextLength` ids with the end token put back last; the rest is `padId`.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import type { TokenTensor } from './graph';
import { DEFAULT_MAX_PROMPT_CHARS, type PackManifest } from './manifest';

export type TextSpec = NonNullable<PackManifest['text']>;

/** A pack's tokeniser, ready to turn prompts into the ids its text encoder takes. */
export interface PromptTokenizer {
  /** [1, contextLength] ids; `cut` when the text had more tokens than fit. */
  encode(text: string): { ids: TokenTensor; cut: boolean; count: number };
}

/**
 * Reads the pack's tokenizer.json (already checked against its sha256). Throws a message naming
 * the file for anything the tokeniser library cannot read.
 */
export function readPackTokenizer(spec: TextSpec, bytes: Uint8Array): PromptTokenizer {
  const file = spec.tokenizer.file;
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new Error(`${file} is not JSON: ${(e as Error).message}`, { cause: e });
  }
  if (typeof json !== 'object' || json === null || !('model' in json)) {
    throw new Error(`${file} is not a Hugging Face tokenizer.json (it has no "model")`);
  }
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(json as object, {});
    tokenizer.encode('a');
  } catch (e) {
    throw new Error(`${file} is not a tokenizer the studio can read: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const maxChars = spec.maxChars ?? DEFAULT_MAX_PROMPT_CHARS;
  return {
    encode(text) {
      if (text.length > maxChars) {
        throw new Error(
          `the prompt has ${text.length} characters; this pack takes at most ${maxChars}`,
        );
      }
      const encoded = tokenizer.encode(text);
      const ids = encoded.ids;
      const bad = ids.findIndex((id) => !Number.isInteger(id) || id < 0 || id > 0x7fffffff);
      if (bad >= 0) {
        throw new Error(
          `${file} has no id for "${String(encoded.tokens[bad])}" in the prompt (and no unknown token)`,
        );
      }
      return { ...padTokens(ids, spec.contextLength, spec.padId), count: ids.length };
    },
  };
}

/**
 * OpenCLIP's rule: ids longer than `length` are cut to `length` with the last id (the end token)
 * put back last; shorter ones are padded with `padId`.
 */
export function padTokens(
  ids: readonly number[],
  length: number,
  padId: number,
): { ids: TokenTensor; cut: boolean } {
  const tokens = new Int32Array(length).fill(padId);
  const cut = ids.length > length;
  if (cut) {
    tokens.set(ids.slice(0, length - 1));
    tokens[length - 1] = ids[ids.length - 1]!;
  } else {
    tokens.set(ids);
  }
  return { ids: { tokens, dims: [1, length] }, cut };
}
