"""An app on the phone: registration, its delegate callbacks, receiving pushes (ordinary and VoIP), the
notification values it sees and its service extension. It sees its phone only as ``host.AppHost`` (app/ is
under phone/), and runs the app's code through ``delegate.DelegateRunner``.

The face keeps ``from device_sim.app import App`` (and the names the old module offered) working."""

from __future__ import annotations

from device_sim.app.app import HISTORY, App, AppConfig, AppRecord, PhoneRules, check_types
from device_sim.app.notification import Notification, NotificationResponse
from device_sim.rules.presentation import RegistrationError

__all__ = ["HISTORY", "App", "AppConfig", "AppRecord", "Notification", "NotificationResponse", "PhoneRules",
           "RegistrationError", "check_types"]
