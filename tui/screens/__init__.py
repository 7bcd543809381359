"""Screens are places: the interface picker, the monitor, and the detail and help modals."""
