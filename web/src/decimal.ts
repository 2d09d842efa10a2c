/** Money as text: amounts arrive from the venue as decimal strings and are shown as such. Nothing here
 * turns a balance into a float; rounding for display is done on the digits. */

const DECIMAL = /^([+-]?)(\d*)(?:\.(\d*))?$/;

export interface Parts { neg: boolean; int: string; frac: string }

export function parts(value: string): Parts | null {
  const m = DECIMAL.exec(value.trim());
  if (!m || (m[2] === "" && (m[3] === undefined || m[3] === ""))) return null;
  const int = m[2].replace(/^0+(?=\d)/, "") || "0";
  return { neg: m[1] === "-", int, frac: m[3] ?? "" };
}

export function isDecimal(value: unknown): value is string {
  return typeof value === "string" && parts(value) !== null;
}

/** Add one unit in the last place to a string of digits (carry to the left). */
function incrementDigits(d: string): string {
  const a = d.split("");
  let i = a.length - 1;
  while (i >= 0) {
    if (a[i] === "9") { a[i] = "0"; i--; } else { a[i] = String(Number(a[i]) + 1); return a.join(""); }
  }
  return "1" + a.join("");
}

/** Round half away from zero to ``places`` decimals, on the digits. */
export function roundTo(value: string, places: number): string {
  const p = parts(value);
  if (!p) return value;
  let int = p.int;
  let frac = p.frac.padEnd(places + 1, "0");
  const up = frac.charCodeAt(places) - 48 >= 5;
  frac = frac.slice(0, places);
  if (up) {
    const joined = incrementDigits(int + frac);
    int = joined.slice(0, joined.length - places) || "0";
    frac = places ? joined.slice(joined.length - places) : "";
  }
  const zero = /^0*$/.test(int + frac);
  return (p.neg && !zero ? "-" : "") + int + (places ? "." + frac : "");
}

/** Strip trailing zeros after the point ("1.2300" -> "1.23", "5.000" -> "5"). */
export function trimZeros(value: string): string {
  if (!value.includes(".")) return value;
  return value.replace(/0+$/, "").replace(/\.$/, "");
}

function group(int: string): string {
  return int.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** A decimal string for the screen: thousands separators, ``places`` decimals when given (rounded on the
 * digits), otherwise the venue's digits without trailing zeros. "-" for a missing value. */
export function fmtMoney(value: string | null | undefined, places?: number): string {
  if (value === null || value === undefined || value === "") return "-";
  const p = parts(String(value));
  if (!p) return String(value);
  const text = places === undefined ? trimZeros(String(value).trim()) : roundTo(String(value), places);
  const q = parts(text)!;
  const zero = /^0*$/.test(q.int + q.frac);
  const sign = q.neg && !zero ? "-" : "";
  return sign + group(q.int) + (q.frac ? "." + q.frac : "");
}

/** A fraction of 1 from the venue ("0.1234") as a percent string ("12.34%"), by moving the point. */
export function fmtFractionPct(value: string | null | undefined, places = 2): string {
  if (value === null || value === undefined || value === "") return "-";
  const p = parts(String(value));
  if (!p) return String(value);
  const frac = p.frac.padEnd(2, "0");
  const shifted = `${p.neg ? "-" : ""}${p.int}${frac.slice(0, 2)}.${frac.slice(2) || "0"}`;
  return fmtMoney(shifted, places) + "%";
}

/** -1, 0 or 1: the sign of a decimal string. */
export function sign(value: string | null | undefined): number {
  const p = value ? parts(value) : null;
  if (!p || /^0*$/.test(p.int + p.frac)) return 0;
  return p.neg ? -1 : 1;
}

/** Compare two decimal strings exactly (-1, 0, 1). */
export function compare(a: string, b: string): number {
  const x = parts(a), y = parts(b);
  if (!x || !y) throw new Error(`not a decimal: ${a} / ${b}`);
  const sx = sign(a), sy = sign(b);
  if (sx !== sy) return sx < sy ? -1 : 1;
  if (sx === 0) return 0;
  const width = Math.max(x.frac.length, y.frac.length);
  const dx = x.int.padStart(64, "0") + x.frac.padEnd(width, "0");
  const dy = y.int.padStart(64, "0") + y.frac.padEnd(width, "0");
  const c = dx === dy ? 0 : dx < dy ? -1 : 1;
  return sx < 0 ? -c : c;
}

/** The number of decimals of a step such as a tick size ("0.10" -> 1, "0.001" -> 3, "1" -> 0). */
export function stepPlaces(step: string): number {
  const t = trimZeros(step);
  const i = t.indexOf(".");
  return i < 0 ? 0 : t.length - i - 1;
}

/** Venue milliseconds as "YYYY-MM-DD HH:MM:SS" UTC. */
export function fmtTime(ms: number | string | null | undefined): string {
  if (ms === null || ms === undefined || ms === "") return "-";
  return new Date(Number(ms)).toISOString().replace("T", " ").slice(0, 19);
}
