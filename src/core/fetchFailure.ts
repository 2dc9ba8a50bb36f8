/**
 * What to tell a person when `fetch` itself fails. Browsers report a refused connection, an
 * unknown host and a cross-origin (CORS) refusal all as the same bare "Failed to fetch", so the
 * message names the likely causes for where the URL points, and what to do about each. And a
 * deadline for small files (manifests) from a server that takes the connection and never answers.
 */

/** A manifest or pack list that has not arrived after this long is given up with a message. */
export const MANIFEST_TIMEOUT_MS = 15_000;

/**
 * Runs `work` (a fetch and the reading of its answer, given the signal to fetch with), aborted after
 * `ms`: a failure caused by that abort becomes `timedOut`'s error, any other is thrown as it is.
 */
export async function withinTime<T>(
  ms: number,
  work: (signal: AbortSignal) => Promise<T>,
  timedOut: (cause: unknown) => Error,
): Promise<T> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), ms);
  try {
    return await work(abort.signal);
  } catch (e) {
    if (abort.signal.aborted) throw timedOut(e);
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/** One sentence (no final full stop) on why fetching `url` failed with `error`. */
export function describeFetchFailure(
  url: string,
  error: unknown,
  pageOrigin: string | undefined = globalThis.location?.origin,
): string {
  const detail = error instanceof Error ? error.message : String(error);
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return `"${url}" is not a URL (${detail})`;
  }
  if (pageOrigin && target.origin === pageOrigin) {
    return `the studio's own server did not answer for ${target.pathname} (${detail}); check that it is still running`;
  }
  return (
    `nothing usable came back from ${target.host} (${detail}): either the server is down or unreachable, ` +
    `or it does not allow this page to read its files — a pack served from another site must send the header ` +
    `"Access-Control-Allow-Origin" (and "Cross-Origin-Resource-Policy: cross-origin"), or be copied next to the studio`
  );
}
