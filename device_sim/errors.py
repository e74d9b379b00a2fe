"""The root of device_sim's exceptions: every error a simulated phone raises on purpose is a
:class:`DeviceSimError`."""

from __future__ import annotations


class DeviceSimError(Exception):
    """A problem the user can fix (bad endpoints file, activation refused, phone in use), said in one line."""
