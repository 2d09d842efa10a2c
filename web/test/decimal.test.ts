import { describe, expect, it } from "vitest";
import { compare, fmtFractionPct, fmtMoney, roundTo, sign, stepPlaces, trimZeros } from "../src/decimal";

describe("decimal strings for the screen", () => {
  it("groups thousands and keeps the venue's digits", () => {
    expect(fmtMoney("100000.00000000")).toBe("100,000");
    expect(fmtMoney("-1234567.89100000")).toBe("-1,234,567.891");
    expect(fmtMoney("0.00000001")).toBe("0.00000001");
    expect(fmtMoney(null)).toBe("-");
  });
  it("rounds half away from zero on the digits, with carries", () => {
    expect(fmtMoney("57237.505", 2)).toBe("57,237.51");
    expect(fmtMoney("-7.738125", 2)).toBe("-7.74");
    expect(roundTo("999.995", 2)).toBe("1000.00");
    expect(roundTo("-0.004", 2)).toBe("0.00");
    expect(roundTo("19.5", 0)).toBe("20");
  });
  it("never loses digits a float would lose", () => {
    // 2^53 + 1 is not representable as a double
    expect(fmtMoney("9007199254740993.12345678")).toBe("9,007,199,254,740,993.12345678");
    expect(fmtMoney("0.1", 20)).toBe("0.10000000000000000000");
  });
  it("shows a fraction as a percent by moving the point", () => {
    expect(fmtFractionPct("0.04618474")).toBe("4.62%");
    expect(fmtFractionPct("0.00299985")).toBe("0.30%");
    expect(fmtFractionPct("1.5")).toBe("150.00%");
  });
  it("compares and signs exactly", () => {
    expect(compare("0.10000000000000000001", "0.1")).toBe(1);
    expect(compare("-2", "-10")).toBe(1);
    expect(compare("5.0", "5")).toBe(0);
    expect(sign("-0.000")).toBe(0);
    expect(sign("-0.01")).toBe(-1);
    expect(stepPlaces("0.10")).toBe(1);
    expect(trimZeros("5.000")).toBe("5");
  });
});
