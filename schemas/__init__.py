"""Records on topics and bodies of the API (pydantic v2), with JSON Schema export."""
