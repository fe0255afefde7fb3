"""The admin console at /admin: server-rendered pages over the API's views and services."""
