"""Process attribution: which local process, user and container own each flow.

``Attributor`` runs beside the engine (never on the packet path) and fills
``Flow.owner`` with an ``Owner``; see attributor.py for how and how often.
"""

from tui.attribution.attributor import Attributor, Owner, attributing

__all__ = ["Attributor", "Owner", "attributing"]
