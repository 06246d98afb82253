"""Operating the pipeline as a service: start/stop Airflow on this machine, trigger nights,
local alert sinks, screenshots. Entry points only; nothing in ``pipeline/`` imports this."""
