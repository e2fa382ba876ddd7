"""The conversation engine: flows are data; one engine runs every flow for every channel."""
