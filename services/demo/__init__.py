"""The demo's parts: the local outlet server and the sample stories it serves (`wirewatch demo`)."""
