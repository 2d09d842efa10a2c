import { describe, expect, it } from "vitest";
import { hmacSha256Hex, queryString, signedQuery } from "../src/sign";

describe("HMAC-SHA256 signing (WebCrypto)", () => {
  it("matches RFC 4231 test case 2", async () => {
    expect(await hmacSha256Hex("Jefe", "what do ya want for nothing?"))
      .toBe("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  });
  it("matches Binance's documented SIGNED example", async () => {
    const secret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
    const q = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
    expect(await hmacSha256Hex(secret, q)).toBe("c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71");
    expect(await signedQuery(secret, q)).toBe(q + "&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71");
  });
  it("builds the query in the given order, skipping empty values and escaping", () => {
    expect(queryString({ symbol: "BTCUSDT", price: "", quantity: "0.01", x: undefined, note: "a b&c" }))
      .toBe("symbol=BTCUSDT&quantity=0.01&note=a%20b%26c");
  });
});
