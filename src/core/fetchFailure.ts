/**
 * What to tell a person when `fetch` itself fails. Browsers report a refused connection, an
 * unknown host and a cross-origin (CORS) refusal all as the same bare "Failed to fetch", so the
 * message names the likely causes for where the URL points, and what to do about each.
 */

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
