/**
 * Typed prompts: OpenCLIP's pad-and-cut rule, a Hugging Face tokenizer.json read through
 * tokenizers.js, and clear refusals of files that are not tokenizers. (The tiny ToonCrafter pack's
 * own tokenizer is checked against the Python tokeniser's ids in src/node/tooncrafterParity.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { padTokens, readPackTokenizer, type TextSpec } from './text';

const spec: TextSpec = {
  tokenizer: { file: 'tokenizer.json', sizeBytes: 100, sha256: '0'.repeat(64) },
  contextLength: 6,
  padId: 0,
  embedding: 'stage:text/embedding',
  maxChars: 40,
};

const special = (id: number, content: string) => ({
  id,
  content,
  special: true,
  single_word: false,
  lstrip: false,
  rstrip: false,
  normalized: false,
});

/** A word-level tokenizer.json: lower-cases, splits on spaces, <s> … </s> around the words. */
const wordLevel = {
  version: '1.0',
  added_tokens: [special(1, '<s>'), special(2, '</s>')],
  normalizer: { type: 'Lowercase' },
  pre_tokenizer: { type: 'WhitespaceSplit' },
  post_processor: {
    type: 'TemplateProcessing',
    single: [
      { SpecialToken: { id: '<s>', type_id: 0 } },
      { Sequence: { id: 'A', type_id: 0 } },
      { SpecialToken: { id: '</s>', type_id: 0 } },
    ],
    pair: [],
    special_tokens: {
      '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] },
      '</s>': { id: '</s>', ids: [2], tokens: ['</s>'] },
    },
  },
  decoder: null,
  model: { type: 'WordLevel', vocab: { a: 4, bouncing: 5, ball: 6, red: 7 }, unk_token: null },
};

const bytes = (x: unknown) =>
  new TextEncoder().encode(typeof x === 'string' ? x : JSON.stringify(x));

describe('typed prompts', () => {
  it('pads short sequences and cuts long ones keeping the end token last (open_clip.tokenize)', () => {
    expect([...padTokens([1, 4, 2], 6, 0).ids.tokens]).toEqual([1, 4, 2, 0, 0, 0]);
    const cut = padTokens([1, 4, 5, 6, 7, 4, 5, 2], 6, 9);
    expect(cut.cut).toBe(true);
    expect([...cut.ids.tokens]).toEqual([1, 4, 5, 6, 7, 2]);
    expect(cut.ids.dims).toEqual([1, 6]);
    expect([...padTokens([1, 2], 4, 9).ids.tokens]).toEqual([1, 2, 9, 9]);
  });

  it("tokenises with the pack's tokenizer.json and pads to the context length", () => {
    const tok = readPackTokenizer(spec, bytes(wordLevel));
    const r = tok.encode('A bouncing BALL');
    expect([...r.ids.tokens]).toEqual([1, 4, 5, 6, 2, 0]);
    expect(r).toMatchObject({ cut: false, count: 5 });
    const long = tok.encode('a red ball a red ball');
    expect([...long.ids.tokens]).toEqual([1, 4, 7, 6, 4, 2]);
    expect(long.cut).toBe(true);
    expect([...tok.encode('').ids.tokens]).toEqual([1, 2, 0, 0, 0, 0]);
  });

  it('refuses a word the vocabulary lacks when the tokenizer has no unknown token', () => {
    const tok = readPackTokenizer(spec, bytes(wordLevel));
    expect(() => tok.encode('a purple ball')).toThrow(
      /tokenizer\.json has no id for "purple" in the prompt/,
    );
  });

  it('refuses a prompt longer than the pack allows', () => {
    const tok = readPackTokenizer(spec, bytes(wordLevel));
    expect(() => tok.encode('a '.repeat(30))).toThrow(/60 characters; this pack takes at most 40/);
  });

  it('refuses files that are not tokenizers, naming the file', () => {
    expect(() => readPackTokenizer(spec, bytes('{ not json'))).toThrow(
      /^tokenizer\.json is not JSON/,
    );
    expect(() => readPackTokenizer(spec, new Uint8Array([0xff, 0xfe, 0x00]))).toThrow(
      /^tokenizer\.json is not JSON/,
    );
    expect(() => readPackTokenizer(spec, bytes([1, 2, 3]))).toThrow(/has no "model"/);
    expect(() => readPackTokenizer(spec, bytes({ model: { type: 'Nope' } }))).toThrow(
      /^tokenizer\.json is not a tokenizer the studio can read: /,
    );
  });
});
