/** The venue's REST API as Binance documents it (USDⓈ-M Futures "General Info"): public GETs, and SIGNED
 * calls with ``timestamp`` and an HMAC-SHA256 ``signature``, the key in the ``X-MBX-APIKEY`` header.
 * Every refusal is Binance's ``{"code", "msg"}``, raised as an ``ApiError``. */
import { queryString, signedQuery } from "./sign";

export type Params = Record<string, string | number | boolean | undefined | null>;

export class ApiError extends Error {
  constructor(public code: number, public msg: string, public status: number) {
    super(`${code}: ${msg}`);
  }
}

export interface Credentials { key: string; secret: string }

/** Parse JSON keeping every number as text: the venue's amounts are strings already, but a plain
 * ``JSON.parse`` would turn any bare number into a float. Integers (ids, times) are returned as numbers
 * only when they are safe integers. */
export function parseJson(text: string): any {
  return JSON.parse(text, (_k, v, ctx?: { source?: string }) => {
    if (typeof v === "number" && ctx && typeof ctx.source === "string" && !/^-?\d+$/.test(ctx.source)) {
      return ctx.source;                  // a decimal with a point or an exponent stays text
    }
    return v;
  });
}

export class Api {
  /** server time minus local time, in ms (Binance: keep ``timestamp`` within ``recvWindow``). */
  offset = 0;
  onRequest: ((method: string, path: string, ok: boolean) => void) | null = null;

  constructor(public base: string, public creds: Credentials | null = null,
              private fetcher: typeof fetch = (...a) => fetch(...a)) {}

  async syncTime(): Promise<void> {
    const t0 = Date.now();
    const r = await this.get("/fapi/v1/time");
    const t1 = Date.now();
    this.offset = Number(r.serverTime) - Math.round((t0 + t1) / 2);
  }

  async get(path: string, params: Params = {}): Promise<any> {
    const q = queryString(params);
    return this.send("GET", path + (q ? "?" + q : ""), undefined, {});
  }

  /** A SIGNED (or USER_STREAM, ``sign=false``) request; parameters in the query for GET/DELETE and in a
   * form body for POST/PUT, as Binance's own examples do. */
  async signed(method: string, path: string, params: Params = {}, sign = true): Promise<any> {
    if (!this.creds) throw new ApiError(-2014, "Sign in first: no API key.", 401);
    const headers: Record<string, string> = { "X-MBX-APIKEY": this.creds.key };
    let payload = queryString(params);
    if (sign) {
      payload = queryString({ ...params, recvWindow: 10000, timestamp: Date.now() + this.offset });
      payload = await signedQuery(this.creds.secret, payload);
    }
    if (method === "GET" || method === "DELETE") {
      return this.send(method, path + (payload ? "?" + payload : ""), undefined, headers);
    }
    headers["Content-Type"] = "application/x-www-form-urlencoded";
    return this.send(method, path, payload, headers);
  }

  private async send(method: string, url: string, body: string | undefined, headers: Record<string, string>) {
    const path = url.split("?")[0];
    let r: Response;
    try {
      r = await this.fetcher(this.base + url, { method, body, headers });
    } catch (e) {
      this.onRequest?.(method, path, false);
      throw new ApiError(-1001, `The venue did not answer (${String(e)}).`, 0);
    }
    const text = await r.text();
    let doc: any = null;
    try { doc = text ? parseJson(text) : null; } catch { doc = null; }
    this.onRequest?.(method, path, r.ok);
    if (!r.ok || (doc && typeof doc === "object" && !Array.isArray(doc) && typeof doc.code === "number" && doc.code < 0)) {
      throw new ApiError(doc?.code ?? -1000, doc?.msg ?? `HTTP ${r.status}`, r.status);
    }
    return doc;
  }
}
