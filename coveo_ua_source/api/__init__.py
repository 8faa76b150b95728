"""Talking to Coveo's UA Read API over HTTP. Knows nothing of dlt.

``models`` (what the API takes and answers), ``errors`` (the status table, error text,
Retry-After), ``transport`` (API requests with retries and waits), ``storage`` (streaming
a zip from the storage host), ``download`` (the rules a storage-host download keeps),
``client`` (one method per endpoint).
"""
