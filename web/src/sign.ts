/** HMAC-SHA256 request signing as Binance documents it for SIGNED endpoints: the signature is the hex
 * HMAC-SHA256 of the query string (and body), keyed by the API secret
 * (Binance Open Platform, "Request Security: SIGNED Endpoint Examples for POST /fapi/v1/order").
 * Runs on WebCrypto: the secret never leaves the browser. */

const encoder = new TextEncoder();

export async function hmacSha256Hex(secret: string, payload: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" },
    false, ["sign"]);
  const sig = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(payload)));
  return Array.from(sig, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The query string of ``params`` in their given order, values as strings (undefined/null skipped). */
export function queryString(params: Record<string, string | number | boolean | undefined | null>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "") continue;
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  }
  return parts.join("&");
}

/** ``payload&signature=...`` for a signed request. */
export async function signedQuery(secret: string, payload: string): Promise<string> {
  return `${payload}&signature=${await hmacSha256Hex(secret, payload)}`;
}
