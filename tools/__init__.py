"""Development tools: never packaged for Lambda (Chalice ships app.py and chalicelib/ only)."""
