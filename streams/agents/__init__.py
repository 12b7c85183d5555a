"""Stream agents, one module per domain; discovered at worker start."""
