"""One provider request and Apple's rules for it: the reason table, the parsed request, provider
authentication (certificate or JWT) and the validation checks in Apple's order. Core: no I/O."""
