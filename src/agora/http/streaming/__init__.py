"""The streaming hub and its wires (SSE, WebSocket), shared by the API and the web app."""
