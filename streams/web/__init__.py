"""HTTP and WebSocket views served by each worker's Faust web server (default port 6066)."""
