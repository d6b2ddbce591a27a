"""`fullcycle demo`: the whole loop on one machine, from a deploy to a rollback.

The demo runs a real fullcycle server and drives it only through its public API, as a user
would: it imports a Backstage catalog, deploys the sample shop through its pipeline with the
`process` target, backfills weeks of shop history through the ingest endpoints, sends the shop
real traffic with a daily rhythm, and runs the bad-release scenario (docs/demo.md).
"""
