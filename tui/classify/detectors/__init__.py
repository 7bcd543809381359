"""Protocol detectors, one module per family (voice, file transfer, streaming, messaging, gaming).

Each is a pure function of payload bytes (and, where a protocol needs both directions, of
what the flow showed before), written from the protocol's specification; the classifier
calls them behind its observe/finish interface and keeps the per-flow state.
"""
