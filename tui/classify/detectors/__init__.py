"""Protocol detectors, one module per family.

Two kinds live here. Pure detectors (voice, filexfer, streaming, messaging, gaming): functions
of payload bytes (and, where a protocol needs both directions, of what the flow showed
before), written from the protocol's specification. Family handlers (tls, dns, http, quic,
ftp, banners, payloads, specs): mixin classes of ``tui.classify.classifier.Classifier`` that
hold its per-family methods; the Classifier keeps the per-flow state, observe/finish, the
dispatch and the fast paths (ARCHITECTURE.md, Classifier layout).
"""
