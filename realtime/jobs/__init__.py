"""One module per command: each builds its source -> processor chain -> sinks through
realtime.jobs.assembly and reports. Nothing below this package imports it."""
