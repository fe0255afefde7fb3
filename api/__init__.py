"""The HTTP API: routes by resource, over the views, writing through a publisher."""
