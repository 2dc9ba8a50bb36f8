import { beforeEach, describe, expect, it } from 'vitest';
import { useStudio } from '../state/store';
import { initialScene, type SceneState } from './sequenceSlice';
import {
  checkSaved,
  resetGapSpec,
  sceneGaps,
  setGapSpec,
  setSceneDefaults,
} from './sequenceActions';

/** Two keys, so one gap, named `a>b`. */
const keys = ['a', 'b'].map((id) => ({ id, name: `${id}.png` })) as unknown as SceneState['keys'];
const scene = () => useStudio.getState().scene;
const gap = () => sceneGaps(scene())[0]!;

describe('a gap’s own settings', () => {
  beforeEach(() => useStudio.setState({ scene: { ...initialScene, keys } }));

  it('are only the fields set on its row: the defaults still set the others', () => {
    setGapSpec('a>b', { seed: 7 });
    expect(scene().specs).toEqual({ 'a>b': { seed: 7 } });
    setSceneDefaults({ count: 5, timing: 'ease-in', exposure: 2 });
    expect(gap().spec).toMatchObject({ count: 5, timing: 'ease-in', exposure: 2, seed: 7 });
    setGapSpec('a>b', { count: 2 });
    setSceneDefaults({ count: 9 });
    expect(gap().spec).toMatchObject({ count: 2, seed: 7 });
  });

  it('go when reset, or when a seed is set back to the scene’s', () => {
    setGapSpec('a>b', { seed: 7 });
    setGapSpec('a>b', { seed: null });
    expect(scene().specs).toEqual({});
    setGapSpec('a>b', { count: 2, exposure: 3 });
    resetGapSpec('a>b');
    expect(scene().specs).toEqual({});
    expect(gap().spec).toEqual(initialScene.defaults);
  });
});

describe('checkSaved', () => {
  const saved = {
    version: 1,
    keys: [],
    results: {},
    defaults: initialScene.defaults,
    seed: 42,
    fps: 12,
    mode: 'loop',
  };

  it('takes whole gap settings (scenes saved before) and partial ones, keeping known fields', () => {
    const whole = { count: 2, timing: 'even', typed: '', exposure: 1, seed: 3 };
    const v = checkSaved({ ...saved, specs: { 'a>b': whole, 'b>c': { seed: 5, junk: 1 } } });
    expect(v.specs).toEqual({ 'a>b': whole, 'b>c': { seed: 5 } });
    expect(v.defaults.variantId).toBeNull();
  });

  it('refuses a partial gap setting out of range', () => {
    expect(() => checkSaved({ ...saved, specs: { 'a>b': { count: 40 } } })).toThrow(
      'gap a>b: settings out of range',
    );
    expect(() => checkSaved({ ...saved, specs: { 'a>b': 'x' } })).toThrow('out of range');
  });

  it('takes the onion skin, with its defaults for scenes saved before it was kept', () => {
    const onion = { on: true, before: 2, after: 0, opacity: 0.8 };
    expect(checkSaved({ ...saved, specs: {}, onion }).onion).toEqual(onion);
    expect(checkSaved({ ...saved, specs: {} }).onion).toEqual(initialScene.onion);
    expect(() => checkSaved({ ...saved, specs: {}, onion: { ...onion, before: 9 } })).toThrow(
      'onion skin',
    );
  });
});
