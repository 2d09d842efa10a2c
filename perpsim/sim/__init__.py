"""The cascade simulator: a population of accounts through a market path, on the venue's own engine.

``scenario.py`` reads and validates a scenario (TOML); ``population.py`` builds the accounts;
``strategy.py`` is the interface a behaviour is written against, ``policies.py`` the named
after-loss behaviours; ``engine.py`` drives one ``Exchange`` tick by tick; ``results.py`` turns a
run into a summary, Parquet tables and an HTML report; ``sweep.py`` runs a grid of scenarios x
seeds on a local loop, a process pool or a Ray cluster. The core never imports this package.
"""
