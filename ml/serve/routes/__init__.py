"""The v1 endpoints, one router per area: the service itself, the model's scanpaths and graph, reports."""
