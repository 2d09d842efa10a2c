/** Binance's public pages the dashboard cites where it explains a rule. */
const FAQ = "https://www.binance.com/en/support/faq/";

export const LINKS = {
  liquidationPrice: [FAQ + "b3c689c1f50a44cabb3a84e663b81d93", "How to Calculate Liquidation Price of USDS-M Futures Contracts"],
  liquidationProtocols: [FAQ + "360033525271", "Liquidation Protocols"],
  leverage: [FAQ + "360033162192", "Leverage and Margin of USDS-M Futures"],
  adl: [FAQ + "360033525471", "What Is Auto-Deleveraging (ADL) and How Does It Work"],
  crossIsolated: [FAQ + "360038447311", "How to Adjust Margin Balance in Cross/Isolated Margin Mode"],
  costToOpen: [FAQ + "87fa7ee33b574f7084d42bd2ce2e463b", "Cost Required to Open a Position in Perpetual Futures Contracts"],
  markPrice: [FAQ + "360033525071", "What Are Mark Price and Price Index"],
  walletBalance: [FAQ + "5d62f8be18d24544b5b6156094c16bf7", "How to Check Futures Wallet Balance"],
  riskControl: [FAQ + "f1afe9cbcd7a438492a0676e024f1897", "Binance Futures Trading Risk Control"],
  newOrder: ["https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/New-Order", "New Order (order types and parameters)"],
} as const;
