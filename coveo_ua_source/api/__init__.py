"""Talking to Coveo's UA Read API over HTTP. Knows nothing of dlt.

``models`` (what the API takes and answers), ``transport`` (retries, waits, error
classification), ``download`` (the rules a storage-host download keeps), ``client`` (one
method per endpoint).
"""
