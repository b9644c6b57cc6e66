"""Live updates: streams and who among the listeners receives an event."""
