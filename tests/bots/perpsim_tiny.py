"""A tiny freqtrade strategy for perpsim's bot test: always long, 10x, never exits by itself.

It holds a position until the venue liquidates it, then enters again: what the test needs to see
freqtrade follow a liquidation. Not a trading strategy.
"""
from pandas import DataFrame

from freqtrade.strategy import IStrategy


class PerpsimTiny(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "1m"
    can_short = False
    minimal_roi = {"0": 100.0}          # never take profit
    stoploss = -0.99                    # never stop out before the venue liquidates
    startup_candle_count = 30
    process_only_new_candles = False

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["enter_long"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["exit_long"] = 0
        return dataframe

    def leverage(self, pair, current_time, current_rate, proposed_leverage, max_leverage, entry_tag, side,
                 **kwargs) -> float:
        return 10.0
