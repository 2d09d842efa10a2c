"""The risk test a trader must pass again after the risk controls ask for it: questions on leverage,
the liquidation price, isolated vs cross margin and stop-losses, drawn deterministically from a seed
(Binance, "Mandatory Risk Re-Testing"; its questions are not published, these are ours [I]).
"""
from __future__ import annotations

import random


def _quiz_bank(rng: random.Random) -> list[dict]:
    """The question bank: leverage, liquidation price, isolated vs cross, stop-loss (public reports's lessons).

    The numeric questions draw their figures from ``rng``; each question is
    ``{"id", "topic", "text", "options": [...], "answer": index}`` before shuffling.
    """
    lev = rng.choice([5, 10, 20, 25, 50])
    entry = rng.choice([100, 200, 400, 500, 1000, 2000])
    liq_long = entry - entry // lev if entry % lev == 0 else None
    if liq_long is None:
        lev, entry = 10, 1000
        liq_long = 900
    move = 100 // lev if 100 % lev == 0 else None
    lev2 = rng.choice([20, 25, 50])      # 100/lev2 % differs from every distractor below
    return [
        {"id": "leverage_move", "topic": "leverage",
         "text": f"With {lev2}x leverage and no other margin, about how far must the price move against "
                 f"you to wipe out the position's initial margin?",
         "options": [f"{100 / lev2:g}%", f"{lev2}%", "75%", "100%"], "answer": 0},
        {"id": "liquidation_price", "topic": "liquidation price",
         "text": f"You open a long at {entry} USDT with {lev}x isolated leverage. Ignoring fees and maintenance "
                 f"margin, at what price is the position's margin gone?",
         "options": [str(liq_long), str(entry - entry // 2), str(entry - 1), str(entry // lev)], "answer": 0},
        {"id": "leverage_raise", "topic": "leverage",
         "text": "You raise the leverage of a new position from 10x to 20x. What happens to its liquidation price?",
         "options": ["It moves closer to the entry price", "It moves further from the entry price",
                     "It does not change", "The position can no longer be liquidated"], "answer": 0},
        {"id": "isolated", "topic": "isolated vs cross",
         "text": "An ISOLATED position is liquidated. What can you lose?",
         "options": ["Only the margin allocated to that position", "The whole futures wallet",
                     "The futures wallet and the spot wallet", "Nothing: isolated positions are protected"],
         "answer": 0},
        {"id": "cross", "topic": "isolated vs cross",
         "text": "In CROSS margin mode, what backs a losing position?",
         "options": ["The whole cross wallet balance, shared with your other cross positions",
                     "Only the margin you put into that position", "Your spot wallet", "The insurance fund"],
         "answer": 0},
        {"id": "stop_loss", "topic": "stop-loss",
         "text": "What does a stop-loss order do for a leveraged position?",
         "options": ["Closes it at a price you chose, before the liquidation price is reached",
                     "Raises the leverage when the price falls", "Adds margin automatically",
                     "Guarantees a profit"], "answer": 0},
        {"id": "stop_loss_where", "topic": "stop-loss",
         "text": "Where must a long position's stop-loss trigger be to protect you from liquidation?",
         "options": ["Above the liquidation price", "Below the liquidation price", "Above the entry price",
                     "Anywhere: it does not matter"], "answer": 0},
        {"id": "after_liquidation", "topic": "leverage",
         "text": "You were just liquidated. Which next step is the safest?",
         "options": ["Stop, review the trade, lower the leverage or stop trading futures for a while",
                     "Raise the leverage to win it back faster", "Add more margin and open the same trade",
                     "Open the opposite direction at once"], "answer": 0},
        {"id": "mark_price", "topic": "liquidation price",
         "text": "Which price triggers a liquidation on Binance futures?",
         "options": ["The mark price reaching the liquidation price", "The last traded price",
                     "The best bid", "Your entry price"], "answer": 0},
    ] + ([{"id": "leverage_margin", "topic": "leverage",
           "text": f"A position of 1,000 USDT notional at {lev}x leverage needs how much initial margin?",
           "options": [f"{1000 // lev} USDT", "1000 USDT", f"{1000 * lev} USDT", "0 USDT"], "answer": 0}]
         if move is not None else [])


def make_quiz(seed: int, count: int) -> list[dict]:
    """``count`` questions drawn and shuffled from ``seed`` (options shuffled too), every topic at least
    once; deterministic (``random.Random(seed)`` is the same on every machine)."""
    rng = random.Random(seed)
    bank = _quiz_bank(rng)
    rng.shuffle(bank)
    chosen, seen = [], set()
    for q in bank:                       # one question per topic first, then the rest
        if q["topic"] not in seen:
            seen.add(q["topic"])
            chosen.append(q)
    chosen += [q for q in bank if q not in chosen]
    chosen = chosen[:max(count, len(seen))]
    rng.shuffle(chosen)
    out = []
    for q in chosen:
        order = list(range(len(q["options"])))
        rng.shuffle(order)
        out.append({"id": q["id"], "topic": q["topic"], "text": q["text"],
                    "options": [q["options"][i] for i in order], "answer": order.index(q["answer"])})
    return out
