"""Development tools, not part of the service a deployment runs: `make run`'s all-in-one
(`run`), the demo data (`demo`) and the activity-log simulator (`simulator`), a stand-in for an
external activity API that the tests and `make run` start as a separate HTTP process."""
