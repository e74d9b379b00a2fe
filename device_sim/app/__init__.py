"""An app on the phone: registration, its delegate callbacks, receiving pushes (ordinary and VoIP), the
notification values it sees and its service extension."""
