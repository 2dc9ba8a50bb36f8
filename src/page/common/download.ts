/** Saves a Blob as a file the person downloads (exports: CSV, Markdown, PNG). */
export function downloadBlob(name: string, blob: Blob): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  // The click starts the download synchronously; keep the URL briefly for browsers that read it later.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
