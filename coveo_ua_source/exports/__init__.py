"""From a time range to downloaded exports, and an export's life across runs. No dlt here.

``types`` (the dataclasses the stages hand each other), ``windows`` (pure window
planning), ``sizing`` (fit windows under the row limit), ``runner`` (create, poll,
download several windows at once), ``lifecycle`` (an export's identity, description,
reuse and cleanup), ``feed`` (one stream of exports shared by the resources of one
extract).
"""
