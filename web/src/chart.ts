/** Charts with TradingView's lightweight-charts. Prices are handed to the chart as numbers only to be
 * drawn; every figure shown as text comes from the venue's strings. */
import { CandlestickSeries, ColorType, createChart, LineSeries, type IChartApi, type ISeriesApi,
  type IPriceLine, type UTCTimestamp } from "lightweight-charts";

export interface Candle { time: UTCTimestamp; open: number; high: number; low: number; close: number }

export function kline(row: any[] | any): Candle {
  if (Array.isArray(row)) {
    return { time: Math.floor(Number(row[0]) / 1000) as UTCTimestamp, open: +row[1], high: +row[2], low: +row[3],
      close: +row[4] };
  }
  return { time: Math.floor(Number(row.t) / 1000) as UTCTimestamp, open: +row.o, high: +row.h, low: +row.l, close: +row.c };
}

export class PriceChart {
  chart: IChartApi;
  candles: ISeriesApi<"Candlestick">;
  mark: ISeriesApi<"Line">;
  private lines: IPriceLine[] = [];

  constructor(el: HTMLElement, height = 360) {
    this.chart = createChart(el, {
      height, autoSize: true,
      layout: { background: { type: ColorType.Solid, color: "#12161c" }, textColor: "#c9d1d9" },
      grid: { vertLines: { color: "#1f252d" }, horzLines: { color: "#1f252d" } },
      timeScale: { timeVisible: true, secondsVisible: false },
    });
    this.candles = this.chart.addSeries(CandlestickSeries, {
      upColor: "#0ecb81", downColor: "#f6465d", borderVisible: false, wickUpColor: "#0ecb81", wickDownColor: "#f6465d",
    });
    this.mark = this.chart.addSeries(LineSeries, { color: "#f0b90b", lineWidth: 1, title: "mark" });
  }

  setCandles(rows: Candle[]): void { this.candles.setData(rows); }
  setMarks(rows: { time: UTCTimestamp; value: number }[]): void { this.mark.setData(rows); }
  update(c: Candle): void { this.candles.update(c); }
  markPoint(time: UTCTimestamp, value: number): void { this.mark.update({ time, value }); }

  /** Horizontal lines: entry, liquidation, stop (the venue's prices). */
  setLines(lines: { price: string | null | undefined; title: string; color: string }[]): void {
    for (const l of this.lines) this.candles.removePriceLine(l);
    this.lines = [];
    for (const l of lines) {
      if (!l.price || Number(l.price) <= 0) continue;
      this.lines.push(this.candles.createPriceLine({ price: Number(l.price), color: l.color, lineWidth: 2,
        lineStyle: 2, axisLabelVisible: true, title: l.title }));
    }
  }

  destroy(): void { this.chart.remove(); }
}
