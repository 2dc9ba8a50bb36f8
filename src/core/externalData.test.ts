import { describe, expect, it } from 'vitest';
import { externalDataLocation } from './externalData';

describe('externalDataLocation', () => {
  it("names a graph's external file relative to the graph's own folder", () => {
    expect(externalDataLocation('student.onnx', 'student_weights_0.bin')).toBe(
      'student_weights_0.bin',
    );
    // optimum / diffusers: unet/model.onnx beside unet/model.onnx_data.
    expect(externalDataLocation('unet/model.onnx', 'unet/model.onnx_data')).toBe('model.onnx_data');
    expect(externalDataLocation('unet/model.onnx', 'unet/weights/a.bin')).toBe('weights/a.bin');
    expect(externalDataLocation('unet/model.onnx', 'weights/a.bin')).toBe('../weights/a.bin');
    expect(externalDataLocation('a/b/model.onnx', 'a/c/d.bin')).toBe('../c/d.bin');
  });
});
