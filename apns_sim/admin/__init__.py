"""The ``/_sim/`` admin API and the live dashboard (an aiohttp adapter): the notification log, faults, clock,
reset, the portal and phone views, the push console and its advice text."""
