"""Network access to the venues: endpoints, an HTTP client with rate limits and retries."""
