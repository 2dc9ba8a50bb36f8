/**
 * Where ONNX Runtime looks for a graph's external-data file. A graph names each of its files by the
 * `location` ONNX wrote into it, relative to the graph's own folder (`unet/model.onnx` names
 * `model.onnx_data`, not `unet/model.onnx_data`); a pack's manifest names files relative to the pack.
 * The runtimes find an external file only under the graph's name for it.
 */
export function externalDataLocation(graphFile: string, dataFile: string): string {
  const from = graphFile.split('/').slice(0, -1);
  const to = dataFile.split('/');
  let same = 0;
  while (same < from.length && same < to.length - 1 && from[same] === to[same]) same++;
  return [...from.slice(same).map(() => '..'), ...to.slice(same)].join('/');
}
