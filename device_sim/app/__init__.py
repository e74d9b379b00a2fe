"""An app on the phone: registration, its delegate callbacks, receiving pushes (ordinary and VoIP), the
notification values it sees and its service extension. It sees its phone only as ``host.AppHost`` (app/ is
under phone/), and runs the app's code through ``delegate.DelegateRunner``."""
