"""The runtime: driver factory, dispatcher, worker and events."""
