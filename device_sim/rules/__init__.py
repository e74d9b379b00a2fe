"""iOS behaviour as pure rules: notification permission, app states and the background budget, what is
presented and how, and PushKit's VoIP rules. Core: no asyncio, no sockets."""
