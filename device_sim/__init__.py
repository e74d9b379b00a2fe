"""device_sim: simulated iPhones for the pushsim APNs simulator (docs/architecture.md, contract 3).

Of our code it imports only the courier wire codec, ``apns_sim.courier``: the phone talks to the simulated
APNs over TLS, never by import. Inside, imports point down only: ``errors``, then ``rules`` and ``identity``,
then ``connection`` and ``app``, then ``phone`` and ``fleet`` (which never see each other), then ``cli``.
"""

from device_sim.app.app import App, Notification
from device_sim.app.notification import NotificationResponse
from device_sim.errors import DeviceSimError
from device_sim.identity.store import Endpoints
from device_sim.phone.phone import Phone
from device_sim.rules.authorization import Authorization
from device_sim.rules.background import BackgroundBudget
from device_sim.rules.presentation import Presentation, RegistrationError
from device_sim.rules.voip import IncomingCall, VoipPolicy

__all__ = ["App", "Authorization", "BackgroundBudget", "DeviceSimError", "Endpoints", "IncomingCall", "Notification",
           "NotificationResponse", "Phone", "Presentation", "RegistrationError", "VoipPolicy"]
