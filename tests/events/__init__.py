"""The event feed and webhook deliveries."""
