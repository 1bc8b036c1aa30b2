"""MLflow's tracking REST API (2.0) over a gyre workspace, so MLflow clients log to gyre
unchanged: experiments, runs, params, metrics, tags and artifacts (through the server's
artifact proxy routes). What it does not cover answers MLflow's ``NOT_IMPLEMENTED`` with a
message naming the operation; ``docs/server.md`` lists both."""
