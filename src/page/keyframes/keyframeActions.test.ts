import { describe, expect, it } from 'vitest';
import { orderKeyframeFiles } from './keyframeActions';

const names = (xs: { name: string }[]) => xs.map((x) => x.name);

describe('orderKeyframeFiles', () => {
  it('puts a file named start before one named end, whatever their sort order', () => {
    expect(
      names(orderKeyframeFiles([{ name: 'bounce-end.png' }, { name: 'bounce-start.png' }])),
    ).toEqual(['bounce-start.png', 'bounce-end.png']);
    expect(names(orderKeyframeFiles([{ name: 'last.png' }, { name: 'first.png' }]))).toEqual([
      'first.png',
      'last.png',
    ]);
  });
  it('uses natural name order otherwise', () => {
    expect(names(orderKeyframeFiles([{ name: 'frame10.png' }, { name: 'frame9.png' }]))).toEqual([
      'frame9.png',
      'frame10.png',
    ]);
    expect(names(orderKeyframeFiles([{ name: 'frame3.png' }, { name: 'frame1.png' }]))).toEqual([
      'frame1.png',
      'frame3.png',
    ]);
  });
});
