"""`sockscope export`: stream what the engine sees to Prometheus, JSON lines and IPFIX collectors.

The capture thread only appends each flow that leaves the table to a bounded deque
(``Engine.retired``); everything else happens in the export runner's thread: it copies
the flows that changed since its last tick (``Engine.changed_flows``), turns them into
deltas (``tracker``) and hands those to the exporters, whose I/O never touches the
capture thread.
"""
